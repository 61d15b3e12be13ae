"""Chunked sequences for span masking, as 4M does for the ``metadata`` modality of 4M-21.

Metadata is serialised as chunks ``"v1=<type> v0=<value>"``; each chunk (and the final ``[EOS]``) is
one atomic unit for span masking, so a type is never separated from its value. Chunks are kept in
order while their cumulative length fits ``max_tokens``; the first one that does not fit and
everything after it (including ``[EOS]``) are dropped whole.
"""

from __future__ import annotations

from collections.abc import Container, Sequence

import numpy as np

from omnimask.tokenizers.text.special import EOS_ID


def is_chunked(raw: object) -> bool:
    """Whether a raw sequence is a list of chunks (a list whose items are id lists / arrays)."""
    if isinstance(raw, np.ndarray):
        return raw.dtype == object
    return isinstance(raw, (list, tuple)) and len(raw) > 0 and not isinstance(raw[0], (int, np.integer))


def prepare_chunks(chunks: Sequence[Sequence[int] | np.ndarray], max_tokens: int) -> tuple[np.ndarray, np.ndarray]:
    """Flatten chunks (without ``[EOS]``) into ids + unit lengths, appending ``[EOS]`` as a last chunk.

    Args:
        chunks: id lists of the chunks, in order; empty chunks are skipped.
        max_tokens: the most tokens the sequence may hold.

    Returns:
        ``(ids, lengths)``: (n,) int64 ids and (u,) int64 chunk lengths summing to n ≤ ``max_tokens``.
    """
    parts = [np.asarray(c, dtype=np.int64).reshape(-1) for c in chunks]
    parts = [p for p in parts if p.shape[0] > 0] + [np.array([EOS_ID], dtype=np.int64)]
    lengths = np.array([p.shape[0] for p in parts], dtype=np.int64)
    fits = int(np.searchsorted(np.cumsum(lengths), max_tokens, side="right"))  # chunks whose cumsum ≤ max
    if fits == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    return np.concatenate(parts[:fits]), lengths[:fits]


def _id_list(chunk: Sequence[int] | np.ndarray) -> list[int]:
    if isinstance(chunk, np.ndarray) and chunk.dtype == np.int64:  # what shards decode to: no conversion
        return chunk.reshape(-1).tolist()
    return np.asarray(chunk, dtype=np.int64).reshape(-1).tolist()


def chunk_units(chunks: Sequence[Sequence[int] | np.ndarray], max_tokens: int) -> list[list[int]]:
    """:func:`prepare_chunks` as span-masking units: the id lists of the chunks that fit, ``[EOS]`` last.

    The same chunks as :func:`prepare_chunks` (empty ones skipped, the prefix whose total fits
    ``max_tokens``), without building arrays: this runs per training sample.
    """
    units: list[list[int]] = []
    total = 0
    for chunk in chunks:
        ids = _id_list(chunk)
        if not ids:
            continue
        total += len(ids)
        if total > max_tokens:
            return units
        units.append(ids)
    if total < max_tokens:
        units.append([EOS_ID])
    return units


def split_chunks(ids: Sequence[int] | np.ndarray, start_ids: Container[int]) -> list[list[int]]:
    """Split a flat id sequence into chunks, each starting at an id in ``start_ids``.

    For metadata, ``start_ids`` are the ids of the ``v1=<type>`` tokens: ``"v1=3 v0=12 v1=5 v0=7"`` →
    ``[[v1=3, v0=12], [v1=5, v0=7]]``. Ids before the first start form a chunk of their own.
    """
    chunks: list[list[int]] = []
    for token in np.asarray(ids, dtype=np.int64).reshape(-1).tolist():
        if not chunks or token in start_ids:
            chunks.append([])
        chunks[-1].append(token)
    return chunks
