"""Streaming per-modality tar shard sets (layout in :mod:`omnimask.data.shards`) into training samples.

:class:`ShardSet` reads a set's manifest and one shard at a time: the tars of every modality are
read in lockstep (local file, fsspec URL or ``pipe:`` command) and zipped by sample key.
:class:`ShardSource` turns a set into the endless per-rank, per-worker sample stream of a run, as
4M's WebDataset loader did:

* resampled shards (each shard drawn at random with replacement, so ranks and workers never need to
  split the shard list), or — ``resampled=False`` — each epoch's shard permutation dealt out over
  ``world_size · num_workers`` slots;
* a shuffle buffer of ``shuffle_buffer`` samples across shard boundaries;
* every random choice drawn from ``(seed, rank, worker)``, so a stream is reproducible and no two
  ranks or workers read the same sequence;
* a shard that is missing, corrupt (unreadable tar, undecodable member) or misaligned (keys differ
  between modalities) is skipped whole with a warning and counted in :attr:`ShardSource.skipped`;
  the run goes on, and stops with an error only when no shard can be read at all.

Samples are dicts ``{modality: value, "__key__": key}`` with the modalities of the set (pre-tokenized
grids as arrays, sequences as lists of id chunks), the raw form :class:`~omnimask.masking.Masker` takes.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import json
import warnings
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np

from omnimask.data.shards import MANIFEST_NAME, decode, open_url, resolve, shard_name, split_member
from omnimask.data.tar_stream import tar_members

RawSample = dict[str, Any]


class ShardError(Exception):
    """A shard that cannot be used; ``kind`` is ``missing``, ``corrupt`` or ``misaligned``."""

    def __init__(self, kind: str, url: str, detail: str) -> None:
        super().__init__(f"{kind} shard {url}: {detail}")
        self.kind, self.url, self.detail = kind, url, detail


@dataclasses.dataclass
class ShardSet:
    """One split stored as per-modality tar shards at ``location`` (folder, fsspec URL or ``pipe:{file}``)."""

    location: str
    modalities: dict[str, str]  # name -> file type (see omnimask.data.shards.CODECS)
    num_shards: int
    num_samples: int | None = None

    @classmethod
    def open(cls, location: str, modalities: Iterable[str] | None = None) -> ShardSet:
        """Read the set's manifest; keep only ``modalities`` (those the set has; None = all)."""
        url = resolve(location, MANIFEST_NAME)
        try:
            with contextlib.closing(open_url(url)) as f:
                manifest = json.loads(f.read())
        except (OSError, ValueError) as err:
            raise FileNotFoundError(
                f"cannot read {url} ({err}); is {location} a shard set written by `omnimask shard`?"
            ) from err
        exts = dict(manifest["modalities"])
        if modalities is not None:
            wanted = list(modalities)
            exts = {m: exts[m] for m in wanted if m in exts}
            if not exts:
                have = sorted(manifest["modalities"])
                raise ValueError(f"{location} has none of the modalities {wanted}; it has {have}")
        return cls(location, exts, int(manifest["shards"]), manifest.get("samples"))

    def url(self, modality: str, shard: int) -> str:
        return resolve(self.location, f"{modality}/{shard_name(shard)}")

    def _members(self, modality: str, shard: int) -> list[tuple[str, str, bytes]]:
        url = self.url(modality, shard)
        try:
            stream = open_url(url)
        except OSError as err:
            raise ShardError("missing", url, str(err)) from err
        try:
            with contextlib.closing(stream):
                return [(*split_member(name), data) for name, data in tar_members(stream)]
        except (OSError, EOFError, ValueError) as err:
            raise ShardError("corrupt", url, f"{type(err).__name__}: {err}") from err

    def read(self, shard: int) -> list[RawSample]:
        """Every sample of shard ``shard``, zipped across modalities; raises :class:`ShardError`."""
        if not 0 <= shard < self.num_shards:
            raise IndexError(f"shard {shard} of a set with {self.num_shards}")
        columns: dict[str, list[tuple[str, str, bytes]]] = {m: self._members(m, shard) for m in self.modalities}
        first, keys = None, None
        for m, members in columns.items():
            url = self.url(m, shard)
            bad = [f"{k}.{e}" for k, e, _ in members if e != self.modalities[m]]
            if bad:
                raise ShardError("corrupt", url, f"members {bad[:3]} are not .{self.modalities[m]} files")
            these = [k for k, _, _ in members]
            if len(set(these)) != len(these):
                raise ShardError("corrupt", url, "a key occurs twice")
            if keys is None:
                first, keys = m, these
            elif these != keys:
                at = next((i for i, (a, b) in enumerate(zip(keys, these)) if a != b), min(len(keys), len(these)))
                raise ShardError(
                    "misaligned",
                    url,
                    f"sample {at} is {these[at] if at < len(these) else 'missing'!r} here but "
                    f"{keys[at] if at < len(keys) else 'missing'!r} in {first}",
                )
        samples: list[RawSample] = [{"__key__": k} for k in keys or []]
        for m, members in columns.items():
            if self.modalities[m] == "npy" and members:
                values = npy_column([data for _, _, data in members])
                if values is not None:
                    for sample, value in zip(samples, values):
                        sample[m] = value
                    continue
            for sample, (_, ext, data) in zip(samples, members):
                try:
                    sample[m] = decode(ext, data)
                except ValueError as err:
                    raise ShardError("corrupt", self.url(m, shard), f"{sample['__key__']}.{ext}: {err}") from err
        return samples


def npy_column(datas: Sequence[bytes]) -> list[np.ndarray] | None:
    """Decode the ``.npy`` members of one shard column at once, when they share one header (the usual case).

    One copy for the whole column instead of one header parse and copy per member; the arrays are
    equal to per-member :func:`~omnimask.data.shards.decode` results (values, dtype, shape; writable),
    each a row of one column array. ``None`` when the members differ in header or size (decode them
    one by one then).
    """
    first = decode("npy", datas[0])
    data = datas[0]
    if first.ndim == 0 or first.size == 0 or first.dtype.hasobject or not first.flags.c_contiguous:
        return None
    width = 2 if data[6:7] == b"\x01" else 4  # header-length field of format 1.0 / 2.0+
    head = 8 + width + int.from_bytes(data[8 : 8 + width], "little")
    size = len(data)
    if size != head + first.nbytes:
        return None
    header = data[:head]
    if any(len(d) != size or not d.startswith(header) for d in datas):
        return None
    rows = np.frombuffer(b"".join(datas), np.uint8).reshape(len(datas), size)[:, head:]
    return list(rows.copy().view(first.dtype).reshape(len(datas), *first.shape))


def shuffled(samples: Iterable[RawSample], size: int, rng: np.random.Generator) -> Iterator[RawSample]:
    """Samples through a shuffle buffer of ``size`` (each new sample swaps out a random buffered one)."""
    if size <= 1:
        yield from samples
        return
    buffer: list[RawSample] = []
    for sample in samples:
        if len(buffer) < size:
            buffer.append(sample)
            continue
        i = int(rng.integers(size))
        yield buffer[i]
        buffer[i] = sample
    for i in rng.permutation(len(buffer)):
        yield buffer[i]


@dataclasses.dataclass
class ShardSource:
    """The training stream of a :class:`ShardSet` (see the module docstring).

    Attributes:
        shards: the shard set.
        resampled: draw shards with replacement (endless); else deal each epoch's shards to the slots.
        shuffle_buffer: samples held for shuffling; 0 reads shards and samples in order (validation).
        epochs: passes over the shards when not resampled (None = endless).
        vocab: modality → vocabulary size; a sample holding a token id outside ``0 .. size - 1`` (a
            corrupt or foreign shard) is skipped with a warning naming the shard and the key.
        skipped: shards (and, under ``bad_ids``, samples) skipped so far in this process, by kind.
    """

    shards: ShardSet
    resampled: bool = True
    shuffle_buffer: int = 1000
    epochs: int | None = None
    vocab: dict[str, int] = dataclasses.field(default_factory=dict)
    skipped: collections.Counter = dataclasses.field(default_factory=collections.Counter)

    @property
    def modalities(self) -> list[str]:
        return list(self.shards.modalities)

    def _shard_order(self, seed: int, rng: np.random.Generator, slot: int, slots: int) -> Iterator[int]:
        n = self.shards.num_shards
        if self.resampled:
            while True:
                yield int(rng.integers(n))
        if slots > n:
            raise ValueError(
                f"{n} shard(s) cannot feed {slots} ranks x workers without resampling; "
                "set data.resampled=true, use fewer loader workers or write more shards"
            )
        epoch = 0
        while self.epochs is None or epoch < self.epochs:
            order = np.random.default_rng([seed, epoch]).permutation(n) if self.shuffle_buffer else np.arange(n)
            yield from (int(i) for i in order[slot::slots])
            epoch += 1

    def _read_shards(self, order: Iterator[int]) -> Iterator[RawSample]:
        failures_in_a_row = 0
        for shard in order:
            try:
                samples = self.shards.read(shard)
            except ShardError as err:
                self.skipped[err.kind] += 1
                failures_in_a_row += 1
                warnings.warn(
                    f"skipping {err}; {sum(self.skipped.values())} shard(s) skipped so far in this process",
                    RuntimeWarning,
                    stacklevel=2,
                )
                if failures_in_a_row >= max(self.shards.num_shards, 8):
                    raise RuntimeError(
                        f"no readable shard in {failures_in_a_row} attempts at {self.shards.location}; last: {err}"
                    ) from err
                continue
            failures_in_a_row = 0
            yield from (sample for sample in samples if self._ids_in_range(sample, shard))

    def _ids_in_range(self, sample: RawSample, shard: int) -> bool:
        """Whether every token id of ``sample`` fits its vocabulary (else: warn, count, skip)."""
        for m, size in self.vocab.items():
            value = sample.get(m)
            chunks = value if isinstance(value, list) else [value]
            for chunk in chunks:
                ids = np.asarray(chunk) if chunk is not None else None
                if ids is None or ids.size == 0 or not np.issubdtype(ids.dtype, np.integer):
                    continue
                if int(ids.min()) < 0 or int(ids.max()) >= size:
                    self.skipped["bad_ids"] += 1
                    warnings.warn(f"skipping sample {sample['__key__']} of {self.shards.url(m, shard)}: {m} holds "
                                  f"token id {int(ids.max()) if ids.max() >= size else int(ids.min())} outside "
                                  f"0..{size - 1}; {self.skipped['bad_ids']} sample(s) skipped so far",
                                  RuntimeWarning, stacklevel=3)
                    return False
        return True

    def iterate(
        self, seed: int, rank: int = 0, world_size: int = 1, worker: int = 0, num_workers: int = 1
    ) -> Iterator[RawSample]:
        """The raw samples of worker ``worker`` of rank ``rank`` (deterministic in all five arguments)."""
        rng = np.random.default_rng([seed, rank, worker, 0x5A4D])
        slot, slots = rank * num_workers + worker, world_size * num_workers
        return shuffled(self._read_shards(self._shard_order(seed, rng, slot, slots)), self.shuffle_buffer, rng)


def read_all(shards: ShardSet, modalities: Sequence[str] | None = None) -> Iterator[RawSample]:
    """Every sample of a set in shard order (for inspection and round-trip checks; errors propagate)."""
    wanted = ShardSet(
        shards.location,
        {m: shards.modalities[m] for m in (modalities or shards.modalities)},
        shards.num_shards,
        shards.num_samples,
    )
    for shard in range(shards.num_shards):
        yield from wanted.read(shard)
