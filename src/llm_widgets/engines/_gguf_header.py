"""A fast GGUF header check: metadata and tensor table, without parsing token arrays into Python.

`gguf.GGUFReader` takes ~1.8 s on a 100 MB model because it materialises the vocabulary; this
reads the same header with the `gguf` package's constants in a few milliseconds and skips arrays.
"""

from __future__ import annotations

import mmap
import os
import struct
from dataclasses import dataclass, field
from typing import Any

import gguf

from ..errors import GGUFFormatError

_SCALARS: dict[int, tuple[str, int]] = {
    gguf.GGUFValueType.UINT8: ("<B", 1),
    gguf.GGUFValueType.INT8: ("<b", 1),
    gguf.GGUFValueType.UINT16: ("<H", 2),
    gguf.GGUFValueType.INT16: ("<h", 2),
    gguf.GGUFValueType.UINT32: ("<I", 4),
    gguf.GGUFValueType.INT32: ("<i", 4),
    gguf.GGUFValueType.FLOAT32: ("<f", 4),
    gguf.GGUFValueType.BOOL: ("<?", 1),
    gguf.GGUFValueType.UINT64: ("<Q", 8),
    gguf.GGUFValueType.INT64: ("<q", 8),
    gguf.GGUFValueType.FLOAT64: ("<d", 8),
}


@dataclass
class GGUFHeader:
    """What the header of a GGUF file says."""

    version: int
    metadata: dict[str, Any] = field(default_factory=dict)
    tensor_count: int = 0
    data_end: int = 0  # the byte offset where the last tensor's data ends
    file_size: int = 0


class _Cursor:
    def __init__(self, buf: mmap.mmap) -> None:
        self.buf, self.pos = buf, 0

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.buf):
            raise GGUFFormatError("the file ends inside its header (truncated?)")
        out = self.buf[self.pos : self.pos + n]
        self.pos += n
        return out

    def unpack(self, fmt: str, n: int) -> Any:
        return struct.unpack(fmt, self.take(n))[0]

    def string(self) -> str:
        return self.take(self.unpack("<Q", 8)).decode("utf-8", "replace")

    def value(self, vtype: int, keep: bool) -> Any:
        if vtype in _SCALARS:
            fmt, n = _SCALARS[vtype]
            return self.unpack(fmt, n)
        if vtype == gguf.GGUFValueType.STRING:
            return self.string()
        if vtype == gguf.GGUFValueType.ARRAY:
            item_type, count = self.unpack("<I", 4), self.unpack("<Q", 8)
            if item_type in _SCALARS and not keep:
                self.take(_SCALARS[item_type][1] * count)
                return None
            if item_type == gguf.GGUFValueType.STRING and not keep:
                for _ in range(count):
                    self.take(self.unpack("<Q", 8))
                return None
            return [self.value(item_type, keep) for _ in range(count)]
        raise GGUFFormatError(f"unknown metadata value type {vtype}")


def read_header(path: str | os.PathLike[str]) -> GGUFHeader:
    """Read and check a GGUF header; raise GGUFFormatError for anything that is not a whole GGUF."""
    size = os.path.getsize(path)
    if size < 24:
        raise GGUFFormatError("the file is too small to be a GGUF")
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as buf:
        cur = _Cursor(buf)
        if cur.unpack("<I", 4) != gguf.GGUF_MAGIC:
            raise GGUFFormatError("it does not start with the GGUF magic bytes")
        version = cur.unpack("<I", 4)
        if version not in (2, 3):
            raise GGUFFormatError(f"GGUF version {version} is not supported")
        n_tensors, n_kv = cur.unpack("<Q", 8), cur.unpack("<Q", 8)
        if n_tensors > 1_000_000 or n_kv > 1_000_000:
            raise GGUFFormatError("its header counts are implausible (corrupt file?)")
        header = GGUFHeader(version=version, tensor_count=n_tensors, file_size=size)
        for _ in range(n_kv):
            key = cur.string()
            vtype = cur.unpack("<I", 4)
            keep = not key.startswith("tokenizer.ggml.")
            header.metadata[key] = cur.value(vtype, keep)
        alignment = int(header.metadata.get("general.alignment", 32) or 32)
        data_end = 0
        for _ in range(n_tensors):
            cur.string()
            n_dims = cur.unpack("<I", 4)
            dims = [cur.unpack("<Q", 8) for _ in range(n_dims)]
            ttype, offset = cur.unpack("<I", 4), cur.unpack("<Q", 8)
            try:
                block, type_size = gguf.GGML_QUANT_SIZES[gguf.GGMLQuantizationType(ttype)]
            except (ValueError, KeyError):
                raise GGUFFormatError(f"unknown tensor type {ttype}") from None
            elements = 1
            for d in dims:
                elements *= d
            data_end = max(data_end, offset + elements // block * type_size)
        start = cur.pos + (-cur.pos % alignment)
        header.data_end = start + data_end
    if header.data_end > size:
        raise GGUFFormatError(
            f"it is truncated: the tensors need {header.data_end} bytes, the file has {size}"
        )
    return header
