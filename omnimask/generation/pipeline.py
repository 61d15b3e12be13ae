"""The one inference pipeline: load a trained 4M with its tokenizers, turn raw conditions into tokens,
generate, turn tokens back into raw values and pictures.

``omnimask generate``, the demo, the evaluation and the server all run on :class:`Pipeline`, so they
agree on how an input is read (one :class:`~omnimask.generation.conditions.Conditioner`: image files,
captions, boxes, metadata; over-long sequences an error unless ``truncate``), how a model folder is
found (:func:`omnimask.loading.load_model`, the shipped model by default) and how outputs are decoded
(:func:`~omnimask.generation.render.decode_state` for pictures and texts, :meth:`Pipeline.values` for
raw values in natural units)::

    pipe = Pipeline.load()                                   # the shipped SynthWorld model
    state = pipe.conditions({"caption": ["a red cube on the left"]})
    result = pipe.generate(state, pipe.plan(["caption"], ["tok_rgb@64"]), seed=0)
    picture = pipe.decode(result.state, ["tok_rgb@64"])["tok_rgb@64"].picture   # (64, 64, 3) uint8
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from omnimask.batch import Batch, ModalityBatch
from omnimask.config import ConfigError
from omnimask.generation.conditions import Conditioner
from omnimask.generation.plan import Plan, plan
from omnimask.generation.render import Decoded, decode_state
from omnimask.generation.sampler import Generation, Sampler
from omnimask.loading import load_model, shipped_model_path
from omnimask.modalities import ModalitySpec, find_roles
from omnimask.model import FourM
from omnimask.tokenizers.bundle import load_tokenizers
from omnimask.tokenizers.entries import Tokenizer


def resolve_name(name: str, known: Sequence[str]) -> str:
    """A modality name from a possibly short form: exact, then ``<name>@…``, then ``tok_<name>@…``."""
    if name in known:
        return name
    for tier in (name, f"tok_{name}"):
        hits = [m for m in known if m.split("@")[0] == tier]
        if len(hits) == 1:
            return hits[0]
        if len(hits) > 1:
            raise ValueError(f"{name!r} is ambiguous ({hits}); write the full modality name")
    raise ValueError(f"unknown modality {name!r}; this model has {sorted(known)}")


class Pipeline:
    """A trained 4M and its tokenizers, from raw conditions to raw outputs.

    Args:
        model: the model (put into eval mode).
        tokenizers: modality name → tokenizer (:func:`omnimask.tokenizers.bundle.load_tokenizers`); a
            modality without one can only be given and generated as token ids.
        path: where it was loaded from (shown in messages and pages).
        progress: show a progress bar over the iterations of each generation.
        precision: ``fp32``, ``bf16`` or ``auto`` (:mod:`omnimask.precision`: bf16 where the device is
            faster at it); the sampling itself always runs in fp32.

    Attributes:
        specs: the model's modalities; ``roles``: role → modality name (:func:`omnimask.modalities.find_roles`).
    """

    def __init__(self, model: FourM, tokenizers: Mapping[str, Tokenizer], path: str | Path = "",
                 progress: bool = False, precision: str = "auto") -> None:
        self.model = model.eval()
        self.tokenizers: dict[str, Tokenizer] = dict(tokenizers)
        self.path = Path(path)
        self.specs: dict[str, ModalitySpec] = dict(model.specs)
        self.roles = find_roles(self.specs)
        self.conditioner = Conditioner(self.specs, self.tokenizers)
        self.sampler = Sampler(self.model, progress=progress, precision=precision)

    @classmethod
    def load(cls, path: str | Path | None = None, *, tokenizers: str | Path | None = None, device: str = "cpu",
             progress: bool = False, precision: str = "auto") -> Pipeline:
        """The model in ``path`` (default: the shipped one) with the tokenizer bundle beside it.

        ``tokenizers`` names another bundle folder; without one and without ``path/tokenizers`` the
        pipeline works on token ids only.
        """
        folder = shipped_model_path() if path is None else Path(path)
        model = load_model(folder, device)
        try:
            bundle = load_tokenizers(tokenizers if tokenizers is not None else folder)
        except FileNotFoundError as err:
            if tokenizers is not None:
                raise ConfigError(f"{err}; give a folder written by omnimask train or export") from None
            bundle = {}
        return cls(model, bundle, folder, progress, precision)

    # -- names ------------------------------------------------------------------------------
    def resolve(self, name: str) -> str:
        """A modality name of this model from a possibly short form (:func:`resolve_name`)."""
        return resolve_name(name, list(self.specs))

    def can_read(self, name: str) -> bool:
        """Whether ``name`` can be a condition given raw (an input of the model with a tokenizer, or pixels)."""
        raw_ok = self.specs[name].is_pixels or name in self.tokenizers
        return name in self.model.input_modalities and raw_ok

    def can_write(self, name: str) -> bool:
        """Whether ``name`` can be generated and decoded to raw values (an output with a tokenizer)."""
        return name in self.model.output_modalities and name in self.tokenizers

    # -- raw → tokens -----------------------------------------------------------------------
    def condition(self, name: str, values: Sequence[Any], *, truncate: bool = False) -> ModalityBatch:
        """One modality given for B = ``len(values)`` samples (see :class:`Conditioner`)."""
        return self.conditioner.condition(name, values, truncate=truncate)

    def conditions(self, raw: Mapping[str, Sequence[Any]], *, truncate: bool = False) -> Batch:
        """A generation state: modality name → B raw values (the same B for every modality)."""
        return self.conditioner.batch(raw, truncate=truncate)

    # -- generation -------------------------------------------------------------------------
    def plan(self, given: Sequence[str], targets: Sequence[str], *, preset: str = "fast", **settings: Any) -> Plan:
        """A chained plan over modality names (:func:`omnimask.generation.plan`)."""
        return plan(list(given), list(targets), self.specs, preset=preset, **settings)

    def generate(self, conditions: Batch, the_plan: Plan, seed: int = 0) -> Generation:
        """Run ``the_plan`` from tokenized ``conditions``; the same seed gives the same tokens."""
        return self.sampler.generate(conditions, the_plan, seed=seed)

    # -- tokens → raw -----------------------------------------------------------------------
    def decode(self, state: Batch, names: Sequence[str] | None = None, sample: int = 0) -> dict[str, Decoded]:
        """Pictures and texts of ``names`` (default: all) of one sample of a state."""
        return decode_state(state, self.specs, self.tokenizers, names, sample=sample)

    def values(self, name: str, mb: ModalityBatch) -> list[Any]:
        """The B rows of ``name`` as raw values: maps in natural units, parsed boxes, text, vectors.

        A model's vocabulary may be larger than its tokenizer's: ids beyond the tokenizer's are dropped
        from sequences and clamped to the last code in grids.
        """
        spec, tok = self.specs[name], self._tokenizer(name)
        if spec.is_sequence:
            rows = [mb.tensor[b][mb.input_keep[b] | mb.target_keep[b]].tolist() for b in range(mb.batch_size)]
            return list(tok.detokenize(rows))
        ids = mb.tensor.long().cpu().clamp(0, tok.vocab_size - 1)
        return list(np.asarray(tok.detokenize(ids, spec.grid)))

    def reconstruct(self, name: str, values: Sequence[Any], batch_size: int = 32) -> list[Any]:
        """The tokenizer's reconstruction of raw ``values`` (tokenize → detokenize): the ceiling of any
        prediction through tokens. Sequences are cut to what the modality holds, as conditions with
        ``truncate``."""
        spec, tok = self.specs[name], self._tokenizer(name)
        out: list[Any] = []
        for start in range(0, len(values), batch_size):
            chunk = values[start : start + batch_size]
            if spec.is_sequence:
                out += self.values(name, self.condition(name, chunk, truncate=True))
            else:
                ids = torch.as_tensor(tok.tokenize(np.stack([np.asarray(v) for v in chunk]))).long()
                out += list(np.asarray(tok.detokenize(ids, spec.grid)))
        return out

    def _tokenizer(self, name: str) -> Tokenizer:
        if name not in self.tokenizers:
            raise KeyError(f"no tokenizer for {name} in {self.path or 'the model'}'s tokenizers/ bundle")
        return self.tokenizers[name]

