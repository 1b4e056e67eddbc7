"""The CI-only harness: a Jupyter server and browser driver, a kernel, services for tests, the
soak. Not shipped in the wheel."""
