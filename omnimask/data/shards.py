"""The shard layout 4M was trained from: per-modality tar shard sets aligned by sample key.

A shard set (one split of a dataset) lives at a *location* — a local folder, any fsspec URL
(``s3://bucket/cc12m/train``, ``gs://...``, ``https://...``) or a ``pipe:`` command with a ``{file}``
placeholder (``pipe:aws s3 cp s3://bucket/cc12m/train/{file} -``) — and holds::

    LOCATION/manifest.json                    modalities with their file type, shard and sample counts
    LOCATION/{modality}/shard-00000.tar       sample k of shard i of every modality has the same key
    LOCATION/{modality}/shard-00001.tar
    ...

Inside a tar each sample is one member ``{key}.{ext}`` (the released 4M's "modified WebDataset"
layout; keys contain no dot or slash). File types (:data:`CODECS`):

===============  ================================================================================
``npy``          a NumPy array: token ids of image-like modalities (N,), stored pixels (H, W, C)
``chunks.json``  a pre-tokenized sequence as a JSON list of id chunks (metadata: one per key)
``png``          an image (raw datasets)
``json``         any JSON value (raw boxes, palettes, metadata)
``txt``          UTF-8 text (raw captions)
===============  ================================================================================

``omnimask shard`` writes shard sets (:mod:`omnimask.data.shard_writer`);
:mod:`omnimask.data.shard_reader` streams them. Both need the ``data`` extra (webdataset, fsspec).
"""

from __future__ import annotations

import importlib
import io
import json
import re
from collections.abc import Callable
from types import ModuleType
from typing import Any, BinaryIO

import numpy as np

FORMAT = "omnimask-shards/1"
MANIFEST_NAME = "manifest.json"
#: Extensions whose values the training loop can consume directly (pre-tokenized modalities).
TOKEN_EXTS = ("npy", "chunks.json")


def require(module: str) -> ModuleType:
    """Import an optional dependency of the ``data`` extra, or say how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise ImportError(
            f"reading and writing shards needs {module.split('.')[0]!r}: pip install 'omnimask[data]'"
        ) from err


def shard_name(index: int) -> str:
    return f"shard-{index:05d}.tar"


def resolve(location: str, relative: str) -> str:
    """The URL of file ``relative`` (e.g. ``rgb/shard-00003.tar``) of the shard set at ``location``."""
    if "{file}" in location:
        return location.replace("{file}", relative)
    return location.rstrip("/") + "/" + relative


def sublocation(location: str, folder: str) -> str:
    """The location of sub-folder ``folder`` (e.g. a split) of ``location``, a template staying a template."""
    if "{file}" in location:
        return location.replace("{file}", folder.strip("/") + "/{file}")
    return resolve(location, folder.strip("/"))


def open_url(url: str) -> BinaryIO:
    """Open a local path, a ``pipe:`` command (its stdout) or any fsspec URL for binary reading."""
    if url.startswith("pipe:"):
        return require("webdataset.gopen").gopen(url, "rb")
    if "://" in url and not url.startswith("file://"):
        return require("fsspec").open(url, "rb").open()
    return open(url.removeprefix("file://"), "rb")  # the caller closes it


def split_member(name: str) -> tuple[str, str]:
    """``"000123.chunks.json"`` → (``"000123"``, ``"chunks.json"``) (the key ends at the first dot)."""
    base = name.rsplit("/", 1)[-1]
    key, dot, ext = base.partition(".")
    if not dot or not key:
        raise ValueError(f"tar member {name!r} is not named KEY.EXT")
    return key, ext


def check_key(key: str) -> str:
    if not key or "." in key or "/" in key:
        raise ValueError(f"sample key {key!r} cannot name a shard member: keys need no '.' or '/'")
    return key


# -- codecs --------------------------------------------------------------------------------------
def _npy_encode(value: Any) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.asarray(value), allow_pickle=False)
    return buf.getvalue()


_NPY_HEADER = re.compile(rb"\{'descr': '([<>|][a-z][0-9]+)', 'fortran_order': False, 'shape': \(([0-9, ]*)\), *\}")


def _npy_decode(data: bytes) -> np.ndarray:
    """``np.load`` of a ``.npy`` member; the common C-order header is parsed directly (np.load's
    literal_eval of the header costs more than the copy of a token grid)."""
    if data[:6] == b"\x93NUMPY" and data[6] in (1, 2):
        start = 10 if data[6] == 1 else 12
        end = start + int.from_bytes(data[8:start], "little")
        match = _NPY_HEADER.match(data, start, end)
        if match:
            shape = tuple(int(n) for n in match[2].split(b",") if n.strip())
            count = int(np.prod(shape, dtype=np.int64))
            array = np.frombuffer(data, np.dtype(match[1].decode()), count=count, offset=end)
            return array.reshape(shape).copy()
    return np.load(io.BytesIO(data), allow_pickle=False)


def _chunks_encode(chunks: Any) -> bytes:
    return json.dumps([np.asarray(c).astype(np.int64).tolist() for c in chunks], separators=(",", ":")).encode()


def _chunks_decode(data: bytes) -> list[np.ndarray]:
    chunks = json.loads(data)
    if not isinstance(chunks, list) or not all(isinstance(c, list) for c in chunks):
        raise ValueError("a chunks.json member must hold a list of id lists")
    return [np.asarray(c, dtype=np.int64) for c in chunks]


def _png_decode(data: bytes) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(data)))


def _png_encode(value: Any) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.asarray(value)).save(buf, format="PNG")
    return buf.getvalue()


#: File type → (encode value to bytes, decode bytes to value).
CODECS: dict[str, tuple[Callable[[Any], bytes], Callable[[bytes], Any]]] = {
    "npy": (_npy_encode, _npy_decode),
    "chunks.json": (_chunks_encode, _chunks_decode),
    "png": (_png_encode, _png_decode),
    "json": (lambda v: json.dumps(v).encode(), json.loads),
    "txt": (lambda v: str(v).encode("utf-8"), lambda d: d.decode("utf-8").rstrip("\n")),
}


def token_ext(value: Any) -> str:
    """The file type of a pre-tokenized value: a list of chunks → ``chunks.json``, an array → ``npy``."""
    return "chunks.json" if isinstance(value, list) else "npy"


def decode(ext: str, data: bytes) -> Any:
    if ext not in CODECS:
        raise ValueError(f"no decoder for .{ext} files; known: {sorted(CODECS)}")
    return CODECS[ext][1](data)


def encode(ext: str, value: Any) -> bytes:
    return CODECS[ext][0](value)
