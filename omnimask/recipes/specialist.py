"""``synth_specialist:TASK``: a single-task model to compare the SynthWorld 4M with (``omnimask eval``).

4M argues that one any-to-any model matches models trained for one task. The specialist tests that
claim at equal cost: the same architecture and size as ``synth_small`` (the shipped model), the same data, optimizer and
batch, trained on one input → one target alone, for the same number of training tokens. Tokens are
counted as 4M counts them — input + target budget per sample times samples — so a target with a
smaller budget (a 48-token caption against the generalist's 64) trains for proportionally more steps.

Tasks (the names of :mod:`omnimask.evaluation.tasks`): ``depth``, ``normal``, ``semseg`` (RGB pixels →
the map's tokens), ``det``, ``caption`` (RGB pixels → the sequence), ``caption2rgb`` (caption → RGB
tokens), and ``retrieval`` (the global embedding predicted from RGB pixels, the caption, the depth
tokens or the semseg tokens — one of them per sample — so that one model serves both sides of every
retrieval row). A sequence target is also an encoder modality of the model (generation feeds its start
sentinel to the encoder) but never receives input tokens in training; a sequence input is always
given whole.
"""

from __future__ import annotations

import dataclasses
import math

from omnimask.config import ConfigError
from omnimask.masking import combine_mixtures, one_way
from omnimask.training.config import TrainConfig

#: Task → (input stems, target stem); ``@R`` is appended to image modalities at the run's resolution.
#: With several inputs each training sample is conditioned on one of them (equally often).
SPECIALIST_TASKS: dict[str, tuple[tuple[str, ...], str]] = {
    "depth": (("rgb",), "tok_depth"),
    "normal": (("rgb",), "tok_normal"),
    "semseg": (("rgb",), "tok_semseg"),
    "det": (("rgb",), "det"),
    "caption": (("rgb",), "caption"),
    "caption2rgb": (("caption",), "tok_rgb"),
    "retrieval": (("rgb", "caption", "tok_depth", "tok_semseg"), "tok_clip_global"),
}


def specialist_of(base: TrainConfig, task: str) -> TrainConfig:
    """``base`` (a SynthWorld recipe) turned into the single-task specialist of ``task``."""
    if task not in SPECIALIST_TASKS:
        raise ConfigError(f"no specialist for task {task!r}; choose one of {sorted(SPECIALIST_TASKS)} "
                          f"(e.g. --recipe synth_specialist:depth)")
    specs = base.model.specs()
    resolution = base.data.resolution
    stems, target_stem = SPECIALIST_TASKS[task]
    sources = [s if s in specs else f"{s}@{resolution}" for s in stems]
    target = target_stem if target_stem in specs else f"{target_stem}@{resolution}"
    for name in (*sources, target):
        if name not in specs:
            raise ConfigError(f"the base recipe {base.recipe!r} has no modality {name!r}; it has {sorted(specs)}")
    sequence_target = specs[target].is_sequence
    inputs = [*sources, target] if sequence_target else sources
    mixture = combine_mixtures([one_way([source], [target], whole=[source] if specs[source].is_sequence else ())
                                for source in sources])
    base_masking = base.masking
    num_in = min(base_masking.num_input_tokens, max(specs[source].num_tokens for source in sources))
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
