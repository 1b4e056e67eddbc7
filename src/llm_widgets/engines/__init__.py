"""The engines: what runs a model. One module per engine, and what they share.

- `base`: the `Backend` protocol every engine offers the model runner.
- `xllamacpp`: llama.cpp's own server code in this process (the default engine).
- `llama_cpp_python`: llama.cpp through the llama-cpp-python binding (the extra of that name).
- `_in_kernel`: what those two share (the checks before a load, the facts after it).
- `openai_compat`: a model behind an OpenAI-compatible server, spoken with the openai client;
  `_server_errors`: its failures in words a user can act on.
- `gguf`, `_gguf_header`: the checks of a GGUF file before any engine loads it.
"""
