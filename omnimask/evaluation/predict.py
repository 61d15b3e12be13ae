"""A model under evaluation: its modalities found by role, batched conditions, generation, decoding.

Evaluation tasks name modalities by role (:class:`Ref`: "the RGB pixels", "the depth tokens", "the
caption", "the global embedding") so the same task runs on any model — our SynthWorld models, a
single-task specialist, or a released 4M — and a missing modality becomes a reason
(:class:`Unavailable`), not a crash. :class:`Predictor` runs the inference
:class:`~omnimask.generation.pipeline.Pipeline` over batches of scenes: batched conditions from raw
scene values, a :func:`~omnimask.generation.plan`, and the target decoded back to raw values (maps in
natural units, parsed boxes, caption text, embedding vectors). It also gives the tokenizer's own
reconstruction of ground truth (tokenize → detokenize), the ceiling of any token-based prediction.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from omnimask.generation.pipeline import Pipeline
from omnimask.modalities import ModalitySpec
from omnimask.progress import tqdm

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

    @property
    def role(self) -> str:
        """The role (:func:`omnimask.modalities.modality_role`) of the modality this reference means."""
        if self.kind == "pixels":
            return "rgb"
        if self.kind == "global_tokens":
            return "global"
        return "tok_rgb" if (self.kind, self.key) == ("image_tokens", "rgb") else str(self.key)

    def describe(self) -> str:
        words = {"pixels": "RGB pixels", "image_tokens": f"{self.key} tokens", "sequence": str(self.key),
                 "global_tokens": "global-embedding (global_tokens, e.g. tok_clip_global)"}  # fmt: skip
        return words[self.kind]


RGB = Ref("pixels")
GLOBAL = Ref("global_tokens")


class Predictor:
    """A model and its tokenizers, predicting a target modality from conditions for many scenes.

    Runs on the one inference :class:`~omnimask.generation.pipeline.Pipeline` (conditions, generation,
    decoding); adds what evaluation needs: modalities found by role, batching over scenes, caching.

    Args:
        model: a :class:`~omnimask.model.FourM`.
        tokenizers: modality name → tokenizer (a bundle, :func:`~omnimask.tokenizers.bundle.load_tokenizers`).
        name: label used in messages (the model folder).
        global_modality: which ``global_tokens`` modality the retrieval tasks use (default: the first).
        batch_size: scenes per generation call.
        progress: show a progress bar per task.
        precision: of the generations (:mod:`omnimask.precision`; ``auto``: bf16 where faster).
    """

    def __init__(self, model: Any, tokenizers: Mapping[str, Any], *, name: str = "model",
                 global_modality: str | None = None, batch_size: int = 32, progress: bool = False,
                 precision: str = "auto") -> None:
        self.pipeline = Pipeline(model, tokenizers, name, precision=precision)
        self.model, self.tokenizers, self.name = self.pipeline.model, self.pipeline.tokenizers, name
        self.specs: dict[str, ModalitySpec] = self.pipeline.specs
        self.global_modality, self.batch_size, self.progress = global_modality, batch_size, progress
        self._cache: dict[Any, list[Any]] = {}

    @classmethod
    def load(cls, directory: str | Path | None = None, *, device: str = "cpu", **kwargs: Any) -> Predictor:
        """The model in ``directory`` (default: the shipped one) with the tokenizer bundle beside it."""
        pipe = Pipeline.load(directory, device=device)
        return cls(pipe.model, pipe.tokenizers, name=str(pipe.path), **kwargs)

    # -- finding modalities -----------------------------------------------------------------
    def resolve(self, ref: Ref) -> str:
        """The model's modality playing role ``ref``; :class:`Unavailable` when it has none."""
        if ref.kind == "global_tokens" and self.global_modality is not None:
            if self.specs.get(self.global_modality, None) is None:
                raise Unavailable(f"{self.name} has no modality {self.global_modality!r}")
            return self.global_modality
        name = self.pipeline.roles.get(ref.role)
        if name is None or self.specs[name].kind != ref.kind:
            have = ", ".join(sorted(self.specs))
            raise Unavailable(f"the model has no {ref.describe()} modality (it has {have})")
        return name

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
            if not self.specs[n].is_pixels and n not in self.tokenizers:
                raise Unavailable(f"no tokenizer for {n} in the model's tokenizers/ bundle")
        return names, out

    def reconstruct(self, target: Ref, values: Sequence[Any]) -> list[Any]:
        """The tokenizer's reconstruction of ground-truth ``values`` of ``target`` (the ceiling)."""
        name = self.resolve(target)
        if name not in self.tokenizers:
            raise Unavailable(f"no tokenizer for {name} in the model's tokenizers/ bundle")
        return self.pipeline.reconstruct(name, values, self.batch_size)

    # -- generation -------------------------------------------------------------------------
    def predict(self, scenes: Sequence[Mapping[str, Any]], inputs: Sequence[Ref], target: Ref,
                settings: Mapping[str, Any] | None = None, seed: int = 0) -> list[Any]:
        """Raw predictions of ``target`` from ``inputs`` for every scene (cached per task shape).

        ``settings`` go to :func:`~omnimask.generation.plan` (``preset`` and any Step field). A target
        that is not also an input of the model (a single-task specialist's) is decoded in one pass,
        whatever ``num_steps`` says. Input sequences longer than the model holds are cut to fit. The
        batch starting at scene i generates with seed ``seed + i``, so results depend on the seed and
        the batch size only.
        """
        names, out = self.check(inputs, target)
        settings = dict(settings or {})
        key = (tuple(names), out, tuple(sorted(settings.items())), seed, len(scenes), id(scenes))
        if key in self._cache:
            return self._cache[key]
        preset = settings.pop("preset", "fast")
        if out not in self.model.input_modalities and not self.specs[out].is_sequence:
            settings["num_steps"] = 1  # it cannot read back a partly generated target: every token in one pass
        the_plan = self.pipeline.plan(names, [out], preset=preset, **settings)
        preds: list[Any] = []
        starts = range(0, len(scenes), self.batch_size)
        label = f"{'+'.join(names)} → {out}"
        for start in tqdm(starts, desc=label, disable=not self.progress, leave=False):
            chunk = scenes[start : start + self.batch_size]
            raw = {n: [s[r.sample_key] for s in chunk] for n, r in zip(names, inputs)}
            result = self.pipeline.generate(self.pipeline.conditions(raw, truncate=True), the_plan, seed=seed + start)
            preds += self.pipeline.values(out, result.state[out])
        self._cache[key] = preds
        return preds
