"""Named training runs: functions returning a :class:`~omnimask.training.config.TrainConfig`.

``omnimask train --recipe NAME`` looks the name up in :data:`RECIPES`; ``--set key=value`` then
changes any field. The released 4M runs are here as data (architecture, token budgets, batch,
learning rate, token budget and alpha mixture as in apple/ml-4m's ``cfgs/default/4m/models/main``)
so that a cluster user can start from them; ``synth_tiny`` trains a useful SynthWorld model in
minutes on a laptop CPU.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from omnimask.config import ConfigError
from omnimask.data.config import DataConfig
from omnimask.masking import MaskingConfig, all2all, combine_mixtures, one_way, rgb2all
from omnimask.modalities import get_modality_set
from omnimask.model import ModelConfig
from omnimask.recipes.specialist import synth_specialist
from omnimask.training.config import TrainConfig
from omnimask.training.optim import OptimConfig


def synth_mixture(resolution: int, alphas: tuple[float, ...] = (0.5,), rgb_alpha: float = 0.5):
    """4M's mixture over the SynthWorld modalities: all2all at each of ``alphas`` plus rgb2all.

    RGB pixels are input only. The all2all components share half the probability, rgb2all the other
    half (4M's main runs mix all2all at several concentrations with an RGB→all component).
    """
    names = list(get_modality_set("synthworld"))
    names = [n.replace("@64", f"@{resolution}") for n in names]
    rgb = f"rgb@{resolution}"
    many = combine_mixtures([all2all(a, names, input_only=[rgb]) for a in alphas])
    return combine_mixtures([many, rgb2all(rgb_alpha, names, rgb=rgb)])


def synth_tiny() -> TrainConfig:
    """A tiny 4M on every SynthWorld modality at 64×64 (k-means tokens): minutes on 2 CPU cores."""
    return TrainConfig(
        recipe="synth_tiny",
        out_dir="runs/synth_tiny",
        model=ModelConfig(size="tiny", modality_set="synthworld"),
        masking=MaskingConfig(num_input_tokens=64, num_target_tokens=64, mixture=synth_mixture(64)),
        optim=OptimConfig(lr=2e-3, min_lr=1e-4, warmup_steps=40, weight_decay=0.05),
        batch_size=32,
        steps=1500,
        eval_every=250,
        save_every=500,
    )


def synth_small() -> TrainConfig:
    """The shipped SynthWorld 4M: width 128, 4 + 4 blocks, the shipped tokenizers; about an hour on 2 bf16 CPU cores.

    Every SynthWorld modality (RGB pixels in; token grids of rgb, depth, normals, semseg, edges and the
    MiniCLIP feature map; the MiniCLIP global embedding; caption, boxes, palette and metadata text),
    96 input and 96 target tokens per sample, all2all at α = 0.2, 0.5 and 1 plus rgb2all, output heads
    tied to the input embeddings, 40 000 rendered scenes tokenized once at start-up, 12 000 steps of 32
    (the first shipped model had 20 000 scenes and 3600 steps: compute-starved on boxes, semseg and text).
    """
    return TrainConfig(
        recipe="synth_small",
        out_dir="runs/synth_small",
        model=ModelConfig(size=None, dim=128, encoder_depth=4, decoder_depth=4, num_heads=2, tie_output=True,
                          modality_set="synthworld"),
        data=DataConfig(source="synth", num_train=40_000, num_val=256, tokenizers="shipped"),
        masking=MaskingConfig(num_input_tokens=96, num_target_tokens=96, mixture=synth_mixture(64, (0.2, 0.5, 1.0))),
        optim=OptimConfig(lr=2e-3, min_lr=5e-5, warmup_steps=300, weight_decay=0.05),
        batch_size=32,
        steps=12_000,
        eval_every=2000,
        eval_batches=8,
        save_every=500,
        log_every=25,
    )  # fmt: skip


def synth_small_focus() -> TrainConfig:
    """The shipped model's second stage: a finished ``synth_small`` run continued with its weak targets in focus.

    Starts from ``runs/synth_small/checkpoint`` (``--set init_from=DIR`` for another) and keeps every
    setting of ``synth_small`` but the schedule (10 000 more steps, peak lr 1e-3 after 200 warm-up
    steps) and the mixture: two thirds ``synth_small``'s, one third split between RGB → boxes,
    semseg, caption and global embedding, and caption (whole) → global embedding and RGB tokens — the
    rows where the generalist trailed its specialists (boxes, semseg, retrieval, text → image).
    """
    base = synth_small()
    res = base.data.resolution
    rgb = f"rgb@{res}"
    focus = combine_mixtures([
        one_way([rgb], ["det", f"tok_semseg@{res}", "caption", "tok_clip_global"]),
        one_way(["caption"], ["tok_clip_global", f"tok_rgb@{res}"], whole=["caption"]),
    ])
    stage_one = base.masking.mixture
    assert stage_one is not None, "synth_small names its mixture"
    return dataclasses.replace(
        base,
        recipe="synth_small_focus",
        out_dir="runs/synth_small_focus",
        init_from="runs/synth_small/checkpoint",
        masking=dataclasses.replace(base.masking,
                                    mixture=combine_mixtures([(stage_one, 2.0), (focus, 1.0)])),
        optim=dataclasses.replace(base.optim, lr=1e-3, warmup_steps=200),
        steps=10_000,
    )  # fmt: skip


def synth_small_polish() -> TrainConfig:
    """The shipped model's third stage: ``synth_small_focus`` continued at a low learning rate.

    Starts from ``runs/synth_small_focus/checkpoint`` and keeps its mixture and settings; 6000 more
    steps, peak lr 3e-4 after 100 warm-up steps, cosine to 1e-5. Stage two's validation loss was
    still falling at its end; this stage anneals it (2.00 → 1.97; boxes and RGB → caption retrieval
    rose on all three evaluation worlds, semseg on two of them: README).
    """
    focus = synth_small_focus()
    return dataclasses.replace(
        focus,
        recipe="synth_small_polish",
        out_dir="runs/synth_small_polish",
        init_from="runs/synth_small_focus/checkpoint",
        optim=dataclasses.replace(focus.optim, lr=3e-4, min_lr=1e-5, warmup_steps=100),
        steps=6000,
    )


def _released(name: str, size: str, modality_set: str, tokens_in: int, batch: int, world: int, blr: float,
              clip: float) -> TrainConfig:
    mods = list(get_modality_set(modality_set))
    mixture = combine_mixtures([all2all(0.5, mods, input_only=["rgb@224"]), rgb2all(0.5, mods)])
    global_batch = batch * world
    warmup_tokens = 10e9
    return TrainConfig(
        recipe=name,
        out_dir=f"runs/{name}",
        model=ModelConfig(size=size, modality_set=modality_set),
        masking=MaskingConfig(num_input_tokens=tokens_in, num_target_tokens=tokens_in, mixture=mixture),
        optim=OptimConfig(lr=blr, min_lr=0.0, scale_lr=True, base_batch_size=256, clip_grad=clip,
                          warmup_steps=round(warmup_tokens / (global_batch * 2 * tokens_in))),
        batch_size=batch,
        tokens=int(500e9),
        data=_no_data(),
    )


def _no_data():
    return DataConfig(source="store", path="/path/to/pretokenized")


#: Released 4M-7 / 4M-21 runs: (size, set, tokens in = out, per-GPU batch, GPUs, base lr, clip).
RELEASED = {
    "b_mod7": ("B", "4m7", 128, 128, 64, 1e-4, 1e4),
    "l_mod7": ("L", "4m7", 128, 64, 128, 1e-4, 1e4),
    "xl_mod7": ("XL", "4m7", 128, 64, 128, 2e-5, 3.0),
    "b_mod21": ("B", "4m21", 256, 64, 64, 1e-4, 1e4),
    "l_mod21": ("L", "4m21", 256, 64, 64, 1e-4, 1e4),
    "xl_mod21": ("XL", "4m21", 256, 32, 128, 2e-5, 3.0),
}

RECIPES: dict[str, Callable[..., TrainConfig]] = {
    "synth_tiny": synth_tiny, "synth_small": synth_small, "synth_small_focus": synth_small_focus,
    "synth_small_polish": synth_small_polish,
    "synth_specialist": synth_specialist,
}
RECIPES.update({name: (lambda name=name, args=args: _released(name, *args)) for name, args in RELEASED.items()})


def get_recipe(name: str) -> TrainConfig:
    """The configuration of recipe ``name`` (``NAME:ARG`` passes ARG, e.g. ``synth_specialist:depth``).

    An unknown name lists the known ones.
    """
    base, sep, arg = name.partition(":")
    if base not in RECIPES:
        raise ConfigError(f"unknown recipe {base!r}; known: {sorted(RECIPES)}")
    try:
        return RECIPES[base](arg) if sep else RECIPES[base]()
    except TypeError as err:
        raise ConfigError(f"recipe {base!r}: {err}") from None
