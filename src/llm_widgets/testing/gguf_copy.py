"""A copy of a real GGUF with other metadata: another chat template (a thinking one, or none for
a base model) or the model's own sampling defaults (`general.sampling.*`). Written with `gguf`;
the weights are the original's, so llama.cpp runs the copy as it runs the model."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

# A thinking chat template in Qwen3's manner (chatml turns; `enable_thinking`; an earlier turn's
# `reasoning_content` shown only after the last user message; thinking off: an empty block;
# tools as <tool_call>, by which llama.cpp's server knows the format and parses its thinking)
QWEN3_STYLE_TEMPLATE = (
    "{%- if tools %}{{- '<|im_start|>system\n# Tools\n<tools>' }}"
    "{%- for tool in tools %}{{- '\n' + (tool | tojson) }}{%- endfor %}"
    '{{- \'\n</tools>\nTo call one, write <tool_call>{"name": ..., "arguments": ...}'
    "</tool_call><|im_end|>\n' }}{%- endif %}"
    "{%- for message in messages %}"
    "{%- if message.role == 'assistant' %}"
    "{%- set reasoning = message.reasoning_content if message.reasoning_content is defined "
    "and message.reasoning_content is not none else '' %}"
    "{{- '<|im_start|>assistant\\n' }}"
    "{%- if loop.last and reasoning %}{{- '<think>\\n' + reasoning + '\\n</think>\\n\\n' }}"
    "{%- endif %}"
    "{{- message.content + '<|im_end|>\\n' }}"
    "{%- else %}"
    "{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>\\n' }}"
    "{%- endif %}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}"
    "{%- if enable_thinking is defined and enable_thinking is false %}"
    "{{- '<think>\\n\\n</think>\\n\\n' }}{%- endif %}"
    "{%- endif %}"
)

# A template that opens `<think>` in the prompt (DeepSeek-R1's manner): the output starts inside
OPENS_THINKING_TEMPLATE = (
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n<think>\\n' }}{%- endif %}"
)

_KEEP = object()


def copy_gguf(
    source: str | os.PathLike[str],
    dest: str | os.PathLike[str],
    *,
    chat_template: str | None | object = _KEEP,
    metadata: dict[str, Any] | None = None,
    name: str | None = None,
) -> Path:
    """Write `dest`: `source` with `chat_template` (None: without one) and `metadata` (key →
    value; ints, floats, strs, bools, numpy.uint32) added or replaced; `name` sets
    `general.name`."""
    import gguf

    reader = gguf.GGUFReader(os.fspath(source))
    arch = str(reader.fields["general.architecture"].contents())
    writer = gguf.GGUFWriter(os.fspath(dest), arch, endianess=reader.endianess)
    extra = dict(metadata or {})
    if name is not None:
        extra["general.name"] = name
    template_key = gguf.Keys.Tokenizer.CHAT_TEMPLATE
    for field in reader.fields.values():
        key = field.name
        if key == "general.architecture" or key.startswith("GGUF.") or key in extra:
            continue
        if key.startswith(template_key) and chat_template is not _KEEP:
            continue
        kind = field.types[0]
        sub = field.types[-1] if kind == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(key, field.contents(), kind, sub_type=sub)
    if isinstance(chat_template, str):
        writer.add_chat_template(chat_template)
    for key, value in extra.items():
        writer.add_key_value(key, value, _value_type(gguf, value))
    for tensor in reader.tensors:
        writer.add_tensor_info(
            tensor.name,
            tensor.data.shape,
            tensor.data.dtype,
            tensor.data.nbytes,
            tensor.tensor_type,
        )
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    for tensor in reader.tensors:
        writer.write_tensor_data(tensor.data, tensor_endianess=reader.endianess)
    writer.close()
    return Path(dest)


def _value_type(gguf: Any, value: Any) -> Any:
    import numpy

    kinds = gguf.GGUFValueType
    if isinstance(value, bool):
        return kinds.BOOL
    if isinstance(value, numpy.uint32):  # what llama.cpp reads as uint32 (e.g. pooling_type)
        return kinds.UINT32
    if isinstance(value, int):
        return kinds.INT32
    if isinstance(value, float):
        return kinds.FLOAT32
    return kinds.STRING
