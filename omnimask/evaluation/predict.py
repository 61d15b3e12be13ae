"""A model under evaluation: its modalities found by role, batched conditions, generation, decoding.

Evaluation tasks name modalities by role (:class:`Ref`: "the RGB pixels", "the depth tokens", "the
caption", "the global embedding") so the same task runs on any model — our SynthWorld models, a
single-task specialist, or a released 4M — and a missing modality becomes a reason
(:class:`Unavailable`), not a crash. :class:`Predictor` builds batched conditions from raw scene
values through the model's tokenizers, runs a :func:`~omnimask.generation.plan` with the
:class:`~omnimask.generation.Sampler`, and decodes the target back to raw values (maps in natural
units, parsed boxes, caption text, embedding vectors). It also gives the tokenizer's own
reconstruction of ground truth (tokenize → detokenize), the ceiling of any token-based prediction.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from omnimask.batch import ModalityBatch
from omnimask.data.synth_tokens import normalise_rgb
from omnimask.generation import Sampler, plan
from omnimask.generation.conditions import load_image
from omnimask.generation.state import full_condition, sequence_from_ids
from omnimask.modalities import ModalitySpec

#: Sample key holding the labeler's global embedding of the scene's RGB (added by the harness).
GLOBAL_KEY = "global"


class Unavailable(Exception):
    """A task (or one column of it) cannot run; the message says why."""


@dataclasses.dataclass(frozen=True)
class Ref:
    """A modality by role: its kind and the sample key it reads (None: any modality of that kind)."""

    kind: str
    key: str | None = None

    @property
    def sample_key(self) -> str:
        """The scene field holding this modality's raw value."""
        if self.kind == "pixels":
            return "rgb"
        if self.kind == "global_tokens":
            return GLOBAL_KEY
        assert self.key is not None
        return self.key

    def describe(self) -> str:
        words = {"pixels": "RGB pixels", "image_tokens": f"{self.key} tokens", "sequence": str(self.key),
                 "global_tokens": "global-embedding (global_tokens, e.g. tok_clip_global)"}  # fmt: skip
        return words[self.kind]


RGB = Ref("pixels")
GLOBAL = Ref("global_tokens")


def _stack(values: Sequence[Any]) -> np.ndarray:
    return np.stack([np.asarray(v) for v in values])


class Predictor:
    """A model and its tokenizers, predicting a target modality from conditions for many scenes.

    Args:
        model: a :class:`~omnimask.model.FourM`.
        tokenizers: modality name → tokenizer (a bundle, :func:`~omnimask.tokenizers.bundle.load_tokenizers`).
        name: label used in messages (the model folder).
        global_modality: which ``global_tokens`` modality the retrieval tasks use (default: the first).
        batch_size: scenes per generation call.
        progress: show a progress bar per task.
    """

    def __init__(self, model: Any, tokenizers: Mapping[str, Any], *, name: str = "model",
                 global_modality: str | None = None, batch_size: int = 32, progress: bool = False) -> None:
        self.model, self.tokenizers, self.name = model.eval(), dict(tokenizers), name
        self.specs: dict[str, ModalitySpec] = dict(model.specs)
        self.global_modality, self.batch_size, self.progress = global_modality, batch_size, progress
        self.sampler = Sampler(model)
        self._cache: dict[Any, list[Any]] = {}

    @classmethod
    def load(cls, directory: str | Path, *, device: str = "cpu", **kwargs: Any) -> Predictor:
        """The model in ``directory`` with the tokenizer bundle beside it (none: no tokenizers)."""
        from omnimask.commands.generate import load_model
        from omnimask.tokenizers.bundle import load_tokenizers

        model = load_model(directory, device)
        try:
            tokenizers = load_tokenizers(directory)
        except FileNotFoundError:
            tokenizers = {}
        return cls(model, tokenizers, name=str(directory), **kwargs)

    # -- finding modalities -----------------------------------------------------------------
    def resolve(self, ref: Ref) -> str:
        """The model's modality playing role ``ref``; :class:`Unavailable` when it has none."""
        if ref.kind == "global_tokens" and self.global_modality is not None:
            if self.specs.get(self.global_modality, None) is None:
                raise Unavailable(f"{self.name} has no modality {self.global_modality!r}")
            return self.global_modality
        hits = [n for n, s in self.specs.items() if s.kind == ref.kind and (
            ref.key is None or ref.kind == "pixels"
            or (s.tokenizer == ref.key if ref.kind == "image_tokens" else n == ref.key))]
        if not hits:
            have = ", ".join(sorted(self.specs))
            raise Unavailable(f"the model has no {ref.describe()} modality (it has {have})")
        return hits[0]

    def check(self, inputs: Sequence[Ref], target: Ref) -> tuple[list[str], str]:
        """Modality names of ``inputs`` and ``target``, or :class:`Unavailable` saying what is missing."""
        names = [self.resolve(r) for r in inputs]
        out = self.resolve(target)
        not_in = [n for n in names if n not in self.model.input_modalities]
        if not_in:
            raise Unavailable(f"{not_in} are not inputs of the model (inputs: {self.model.input_modalities})")
        if out not in self.model.output_modalities:
            raise Unavailable(f"{out} is not an output of the model (outputs: {self.model.output_modalities})")
        for n in [*names, out]:
            if self.specs[n].kind != "pixels" and n not in self.tokenizers:
                raise Unavailable(f"no tokenizer for {n} in the model's tokenizers/ bundle")
        return names, out

    # -- conditions and outputs -------------------------------------------------------------
    def _sequence_ids(self, name: str, values: Sequence[Any]) -> list[list[int]]:
        room = self.specs[name].num_tokens - 1  # the model holds at most num_tokens with [EOS]
        return [row[:room] for row in self.tokenizers[name].tokenize(list(values))]

    def condition(self, name: str, values: Sequence[Any]) -> ModalityBatch:
        """A fully given condition (B = len(values)) from raw scene values."""
        spec = self.specs[name]
        if spec.kind == "pixels":
            pixels = _stack([normalise_rgb(load_image(v, spec.image_size)) for v in values])
            return full_condition(spec, torch.from_numpy(pixels))
        if spec.kind == "sequence":
            tensor, lengths = sequence_from_ids(self._sequence_ids(name, values))
            return full_condition(spec, tensor, lengths)
        return full_condition(spec, self.tokenizers[name].tokenize(_stack(values)).long())

    def decode(self, name: str, mb: ModalityBatch) -> list[Any]:
        """Generated ``name`` (B rows) → raw values.

        A model's vocabulary may be larger than its tokenizer's: ids beyond the tokenizer's are
        dropped from sequences and clamped to the last code in grids.
        """
        spec, tok = self.specs[name], self.tokenizers[name]
        vocab = getattr(tok, "vocab_size", spec.vocab_size)
        if spec.kind == "sequence":
            rows = [mb.tensor[b][mb.input_keep[b] | mb.target_keep[b]].tolist() for b in range(mb.batch_size)]
            return tok.detokenize(rows)  # the sequence tokenizer drops ids past its vocabulary
        ids = mb.tensor.long().cpu().clamp(0, vocab - 1)
        raw = tok.detokenize(ids, spec.grid) if spec.grid is not None else tok.detokenize(ids)
        return list(np.asarray(raw))

    def reconstruct(self, target: Ref, values: Sequence[Any]) -> list[Any]:
        """The tokenizer's reconstruction of ground-truth ``values`` of ``target`` (the ceiling)."""
        name = self.resolve(target)
        if name not in self.tokenizers:
            raise Unavailable(f"no tokenizer for {name} in the model's tokenizers/ bundle")
        spec, tok = self.specs[name], self.tokenizers[name]
        out: list[Any] = []
        for start in range(0, len(values), self.batch_size):
            chunk = values[start : start + self.batch_size]
            if spec.kind == "sequence":
                out += tok.detokenize(self._sequence_ids(name, chunk))
            else:
                ids = tok.tokenize(_stack(chunk)).long()
                raw = tok.detokenize(ids, spec.grid) if spec.grid is not None else tok.detokenize(ids)
                out += list(np.asarray(raw))
        return out

    # -- generation -------------------------------------------------------------------------
    def predict(self, scenes: Sequence[Mapping[str, Any]], inputs: Sequence[Ref], target: Ref,
                settings: Mapping[str, Any] | None = None, seed: int = 0) -> list[Any]:
        """Raw predictions of ``target`` from ``inputs`` for every scene (cached per task shape).

        ``settings`` go to :func:`~omnimask.generation.plan` (``preset`` and any Step field). A target
        that is not also an input of the model (a single-task specialist's) is decoded in one pass,
        whatever ``num_steps`` says. The batch starting at scene i generates with seed ``seed + i``, so
        results depend on the seed and the batch size only.
        """
        names, out = self.check(inputs, target)
        settings = dict(settings or {})
        key = (tuple(names), out, tuple(sorted(settings.items())), seed, len(scenes), id(scenes))
        if key in self._cache:
            return self._cache[key]
        preset = settings.pop("preset", "fast")
        if out not in self.model.input_modalities and self.specs[out].kind != "sequence":
            settings["num_steps"] = 1  # it cannot read back a partly generated target: every token in one pass
        the_plan = plan(names, [out], self.specs, preset=preset, **settings)
        preds: list[Any] = []
        starts = range(0, len(scenes), self.batch_size)
        label = f"{'+'.join(names)} → {out}"
        for start in tqdm(starts, desc=label, disable=not self.progress, leave=False):
            chunk = scenes[start : start + self.batch_size]
            conditions = {n: self.condition(n, [s[r.sample_key] for s in chunk]) for n, r in zip(names, inputs)}
            result = self.sampler.generate(conditions, the_plan, seed=seed + start)
            preds += self.decode(out, result.state[out])
        self._cache[key] = preds
        return preds
