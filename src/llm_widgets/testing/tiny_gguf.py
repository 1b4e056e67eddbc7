"""Tiny real GGUF files for tests: random weights, a real tokenizer, loadable by llama.cpp."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

CHATML_TEMPLATE = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content']"
    " + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def write_tiny_gguf(
    path: str | os.PathLike[str],
    *,
    n_ctx: int = 256,
    seed: int = 0,
    chat_template: str | None = None,
    architecture: str = "llama",
    n_embd: int = 64,
    n_layer: int = 2,
) -> Path:
    """Write a tiny llama-architecture GGUF (about 0.5 MB) with a byte-level SPM vocabulary."""
    import gguf

    path = Path(path)
    rng = np.random.default_rng(seed)
    n_head, n_ff = 4, 2 * n_embd
    tokens: list[bytes] = [b"<unk>", b"<s>", b"</s>"] + [
        f"<0x{i:02X}>".encode() for i in range(256)
    ]
    types = [gguf.TokenType.UNKNOWN, gguf.TokenType.CONTROL, gguf.TokenType.CONTROL]
    types += [gguf.TokenType.BYTE] * 256
    n_vocab = len(tokens)

    writer = gguf.GGUFWriter(str(path), architecture)
    writer.add_name("tiny-test-model")
    writer.add_context_length(n_ctx)
    writer.add_embedding_length(n_embd)
    writer.add_block_count(n_layer)
    writer.add_feed_forward_length(n_ff)
    writer.add_head_count(n_head)
    writer.add_head_count_kv(n_head)
    writer.add_rope_dimension_count(n_embd // n_head)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    writer.add_tokenizer_model("llama")
    writer.add_token_list(tokens)
    writer.add_token_scores([0.0] * n_vocab)
    writer.add_token_types(types)
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    writer.add_unk_token_id(0)
    if chat_template is not None:
        writer.add_chat_template(chat_template)

    def tensor(name: str, *shape: int) -> None:
        data = rng.normal(0, 0.02, size=shape).astype(np.float32)
        if name.endswith("norm.weight"):
            data = np.ones(shape, dtype=np.float32)
        writer.add_tensor(name, data)

    tensor("token_embd.weight", n_vocab, n_embd)
    tensor("output_norm.weight", n_embd)
    tensor("output.weight", n_vocab, n_embd)
    for i in range(n_layer):
        tensor(f"blk.{i}.attn_norm.weight", n_embd)
        for part in ("q", "k", "v"):
            tensor(f"blk.{i}.attn_{part}.weight", n_embd, n_embd)
        tensor(f"blk.{i}.attn_output.weight", n_embd, n_embd)
        tensor(f"blk.{i}.ffn_norm.weight", n_embd)
        tensor(f"blk.{i}.ffn_gate.weight", n_ff, n_embd)
        tensor(f"blk.{i}.ffn_up.weight", n_ff, n_embd)
        tensor(f"blk.{i}.ffn_down.weight", n_embd, n_ff)

    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def write_not_gguf(path: str | os.PathLike[str]) -> Path:
    """A file that is not a GGUF at all."""
    path = Path(path)
    path.write_bytes(b"<html>This is a login page, not a model.</html>" * 20)
    return path


def write_truncated_gguf(path: str | os.PathLike[str], source: str | os.PathLike[str]) -> Path:
    """A copy of the GGUF `source` cut off in the middle of its tensor data."""
    path = Path(path)
    data = Path(source).read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])
    return path
