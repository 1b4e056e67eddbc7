"""The engines: what runs a model. One module per engine, and what they share.

- `base`: the `Backend` protocol every engine offers the model runner.
- `llama_cpp_python`: llama.cpp through the llama-cpp-python binding (the extra of that name).
- `openai_compat`: a model behind an OpenAI-compatible server, spoken with the openai client.
- `gguf`, `_gguf_header`: the checks of a GGUF file before any engine loads it.
"""
