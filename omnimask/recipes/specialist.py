"""``synth_specialist:TASK``: a single-task model to compare the SynthWorld 4M with (``omnimask eval``).

4M argues that one any-to-any model matches models trained for one task. The specialist tests that
claim at equal cost: the same architecture and size as ``synth_small`` (the shipped model), the same data, optimizer and
batch, trained on one input → one target alone, for the same number of training tokens. Tokens are
counted as 4M counts them — input + target budget per sample times samples — so a target with a
smaller budget (a 48-token caption against the generalist's 64) trains for proportionally more steps.

Tasks (the names of :mod:`omnimask.evaluation.tasks`): ``depth``, ``normal``, ``semseg`` (RGB pixels →
the map's tokens), ``det``, ``caption`` (RGB pixels → the sequence), ``caption2rgb`` (caption → RGB
tokens). A sequence target is also an encoder modality of the model (generation feeds its start
sentinel to the encoder) but never receives input tokens in training; a sequence input is always
given whole.
"""

from __future__ import annotations

import dataclasses
import math

from omnimask.config import ConfigError
from omnimask.masking import AlphaMixture, ModalityAlphas
from omnimask.training.config import TrainConfig

#: Task → (input, target) modality stems; ``@R`` is appended to image modalities at the run's resolution.
SPECIALIST_TASKS: dict[str, tuple[str, str]] = {
    "depth": ("rgb", "tok_depth"),
    "normal": ("rgb", "tok_normal"),
    "semseg": ("rgb", "tok_semseg"),
    "det": ("rgb", "det"),
    "caption": ("rgb", "caption"),
    "caption2rgb": ("caption", "tok_rgb"),
}


def specialist_of(base: TrainConfig, task: str) -> TrainConfig:
    """``base`` (a SynthWorld recipe) turned into the single-task specialist of ``task``."""
    if task not in SPECIALIST_TASKS:
        raise ConfigError(f"no specialist for task {task!r}; choose one of {sorted(SPECIALIST_TASKS)} "
                          f"(e.g. --recipe synth_specialist:depth)")
    specs = base.model.specs()
    resolution = base.data.resolution
    source, target = (s if s in specs else f"{s}@{resolution}" for s in SPECIALIST_TASKS[task])
    for name in (source, target):
        if name not in specs:
            raise ConfigError(f"the base recipe {base.recipe!r} has no modality {name!r}; it has {sorted(specs)}")
    sequence_target = specs[target].kind == "sequence"
    inputs = [source, target] if sequence_target else [source]
    keep = ("all",) if specs[source].kind == "sequence" else None
    mixture = AlphaMixture(modalities={
        source: ModalityAlphas(input_alphas=(1.0,), target_alphas=(0.0,), keep=keep),
        target: ModalityAlphas(input_alphas=(0.0,), target_alphas=(1.0,)),
    })  # fmt: skip
    base_masking = base.masking
    num_in = min(base_masking.num_input_tokens, specs[source].num_tokens)
    num_out = min(base_masking.num_target_tokens, specs[target].num_tokens)
    per_sample = base_masking.num_input_tokens + base_masking.num_target_tokens
    budget = base.tokens if base.tokens > 0 else base.steps * base.global_batch() * per_sample
    steps = math.ceil(budget / (base.global_batch() * (num_in + num_out)))
    return dataclasses.replace(
        base,
        recipe=f"synth_specialist:{task}",
        out_dir=f"runs/synth_specialist_{task}",
        model=dataclasses.replace(base.model, inputs=inputs, outputs=[target]),
        masking=dataclasses.replace(base_masking, num_input_tokens=num_in, num_target_tokens=num_out, mixture=mixture,
                                    mixture_path=None),
        steps=steps,
        tokens=0,
    )


def synth_specialist(task: str) -> TrainConfig:
    """The ``synth_small``-sized specialist of ``task`` with ``synth_small``'s training-token budget."""
    from omnimask.recipes import synth_small

    return specialist_of(synth_small(), task)
