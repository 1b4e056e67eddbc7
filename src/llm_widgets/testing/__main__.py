"""`python -m llm_widgets.testing --root DIR`: serve a folder of repos as a local Hub."""

from .local_hub import main

main()
