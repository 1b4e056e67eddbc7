"""llama.cpp's own server (the xllamacpp engine's, `llama-server`'s code) as a process of its own,
for notebooks and tests that need an OpenAI-compatible server where llama-cpp-python is not
installed: `python -m llm_widgets.testing.xllamacpp_server --model PATH --port N [--alias A]
[--n_ctx N] [--api_key KEY]`. Listens on 127.0.0.1 until SIGTERM or SIGINT."""

from __future__ import annotations

import argparse
import os
import signal
import threading


def main(argv: list[str] | None = None) -> None:
    """Serve a GGUF until told to stop."""
    parser = argparse.ArgumentParser(prog="python -m llm_widgets.testing.xllamacpp_server")
    parser.add_argument("--model", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--alias", default="")
    parser.add_argument("--n_ctx", type=int, default=2048)
    parser.add_argument("--api_key", default="")
    args = parser.parse_args(argv)

    import xllamacpp

    params = xllamacpp.CommonParams()
    params.model.path = args.model
    if args.alias:
        params.model_alias = {args.alias}
    params.n_ctx = args.n_ctx
    params.hostnames = ["127.0.0.1"]
    params.port = args.port
    params.api_keys = [args.api_key or os.environ.get("LLM_WIDGETS_SERVER_KEY", "")]
    if not params.api_keys[0]:
        params.api_keys = []
    params.ui = False
    cores = os.cpu_count() or 1
    params.cpuparams.n_threads = max(cores // 2, 1)
    params.cpuparams_batch.n_threads = cores
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    server = xllamacpp.Server(params)
    try:
        stop.wait()
    finally:
        del server


if __name__ == "__main__":
    main()
