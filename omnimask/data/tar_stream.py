"""Reading the members of a tar stream, fast: the inner loop of the shard reader.

Why not ``tarfile`` (which WebDataset's tar iterator wraps): it costs about 80 µs per member in
Python, and a 4M shard set has one member per sample *and modality*, so header parsing alone kept a
loader worker below what one training step consumes. This reader parses the 512-byte headers itself
(POSIX ustar, with the pax ``path`` and GNU long-name extensions that other tar writers emit for long
names) in a few microseconds each, reads sequentially (so it works on pipes and object-store
streams), verifies every header checksum, and raises ``ValueError`` / ``EOFError`` on anything
malformed or truncated, which the shard reader counts as a corrupt shard.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

BLOCK = 512
_REGULAR = (b"0", b"\0", b"7")


def _read_exact(stream: BinaryIO, size: int) -> bytes:
    """``size`` bytes, or fewer only at the end of the stream (pipes may return short reads)."""
    parts, left = [], size
    while left > 0:
        chunk = stream.read(left)
        if not chunk:
            break
        parts.append(chunk)
        left -= len(chunk)
    return b"".join(parts)


def _field(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("utf-8")


def _number(raw: bytes) -> int:
    if raw[0] & 0x80:  # GNU base-256 for values past 8 GiB
        return int.from_bytes(raw[1:], "big")
    text = raw.split(b"\0", 1)[0].strip()
    return int(text, 8) if text else 0


def _check(header: bytes) -> None:
    stored = _number(header[148:156])
    computed = sum(header[:148]) + 8 * 32 + sum(header[156:])
    if stored != computed:
        raise ValueError("tar header checksum mismatch (not a tar file, or a damaged one)")


def _pax_path(records: bytes) -> str | None:
    """The ``path`` value of a pax extended header (records ``"LEN key=value\\n"``)."""
    path, pos = None, 0
    while pos < len(records):
        space = records.index(b" ", pos)
        length = int(records[pos:space])
        key, _, value = records[space + 1 : pos + length - 1].partition(b"=")
        if key == b"path":
            path = value.decode("utf-8")
        pos += length
    return path


def tar_members(stream: BinaryIO) -> Iterator[tuple[str, bytes]]:
    """(name, content) of every regular file in the tar read from ``stream``, in order.

    Names starting with ``__`` (WebDataset's metadata convention) are skipped. Raises ``EOFError``
    when the stream ends inside a header or a member, ``ValueError`` on a damaged header.
    """
    long_name: str | None = None
    while True:
        header = _read_exact(stream, BLOCK)
        if not header or header == bytes(BLOCK):  # end of archive (or of a stream without end blocks)
            return
        if len(header) < BLOCK:
            raise EOFError("tar stream ends inside a header")
        _check(header)
        size = _number(header[124:136])
        kind = header[156:157]
        data = _read_exact(stream, size)
        if len(data) < size or len(_read_exact(stream, -size % BLOCK)) < -size % BLOCK:
            raise EOFError(f"tar stream ends inside member {_field(header[:100])!r}")
        if kind == b"x":
            long_name = _pax_path(data)
            continue
        if kind == b"L":
            long_name = _field(data)
            continue
        name = long_name
        long_name = None
        if kind not in _REGULAR:
            continue
        if name is None:
            name = _field(header[:100])
            if header[257:262] == b"ustar" and header[345]:
                name = _field(header[345:500]) + "/" + name
        if not name.rsplit("/", 1)[-1].startswith("__"):
            yield name, data
