"""Files a hostile or clumsy user hands over, shared by the tests that check they are refused cleanly."""

from __future__ import annotations

import io
import struct
import zlib

from PIL import Image


def huge_png(width: int = 20000, height: int = 20000) -> bytes:
    """A tiny PNG whose header claims ``width`` x ``height`` pixels (nothing that large is ever decoded)."""
    buf = io.BytesIO()
    Image.new("L", (1, 1)).save(buf, format="PNG")
    data = bytearray(buf.getvalue())
    ihdr = struct.pack(">II", width, height) + bytes(data[24:29])
    data[16:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    return bytes(data)


def corrupt_safetensors() -> bytes:
    """A ``model.safetensors`` of the right length prefix whose header is garbage, not JSON (not truncated)."""
    header = b"{garbage, not json"
    return struct.pack("<Q", len(header)) + header + b"\0" * 100
