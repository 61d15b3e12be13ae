"""Contrastive training of MiniCLIP on SynthWorld RGB–caption pairs, and its retrieval evaluation.

This is how the shipped ``omnimask/assets/miniclip`` checkpoint is made (CLIP's recipe, shrunk):
render ``num`` SynthWorld scenes at 64 px, write ``captions_per_scene`` captions for each (the scene's
own caption plus re-worded ones from fresh caption seeds — same objects, other templates and
relations), build a word vocabulary from them, and minimise the symmetric InfoNCE loss of
image–text pairs in batches, with a learned temperature, AdamW and a warm-up + cosine schedule (the
4M training's :mod:`omnimask.training.optim`, with a floor of ``lr / 10``). The model and its
labeler live in :mod:`omnimask.data.labelers`; this trainer sits at the training layer.

Everything random comes from ``seed`` (initialisation, batch order, caption choice) and ``data_seed``
(the SynthWorld world), so a run is a pure function of its config on a given machine. Bit-identical
weights additionally need the same torch build and thread count (``threads``): CPU kernels split
reductions by thread, which changes float rounding.

Evaluation: held-out scenes are indices ``HELDOUT_START ..`` of the same world (never trained on);
:func:`retrieval_recall` ranks, within consecutive pools of ``pool`` scenes, each caption against all
images (text→image) and each image against all captions (image→text), with the shared
:func:`omnimask.metrics.pooled_recall` (ties count at their expected rank). Chance R@k is k / pool.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence

import numpy as np
import torch

from omnimask.config import to_dict
from omnimask.data.labelers.base import TextAlignedLabeler
from omnimask.data.labelers.miniclip import MiniClip, MiniClipConfig, contrastive_loss
from omnimask.data.labelers.miniclip_labeler import MiniClipLabeler
from omnimask.data.labelers.wordvocab import WordVocab
from omnimask.data.synthworld import SynthWorldConfig, render_scene, sample_scene
from omnimask.data.synthworld.caption import caption
from omnimask.data.synthworld.config import GENERATOR_VERSION, WALL
from omnimask.metrics import pooled_recall
from omnimask.progress import tqdm
from omnimask.training.optim import OptimConfig, build_optimizer, build_scheduler

#: First scene index of the held-out evaluation scenes (far beyond any training ``num``).
HELDOUT_START = 1_000_000


@dataclasses.dataclass(kw_only=True)
class MiniClipTrainConfig:
    """One MiniCLIP training run (defaults: the shipped checkpoint).

    Attributes:
        num: training scenes, indices ``0 .. num-1`` of world ``data_seed``.
        data_seed: SynthWorld world seed.
        captions_per_scene: captions per scene (the first is the scene's own).
        steps: optimiser steps.
        batch_size: pairs per step (also the number of negatives + 1 in the loss).
        lr / weight_decay / warmup: AdamW peak learning rate, decoupled weight decay (matrices
            only), linear warm-up steps before a cosine decay to ``lr / 10``.
        seed: initialisation, batch order and caption choice.
        eval_num: held-out scenes scored at the end (0 = skip), in pools of ``eval_pool``.
        model: the architecture (``vocab_size`` is set from the data).
    """

    num: int = 4000
    data_seed: int = 0
    captions_per_scene: int = 4
    steps: int = 500
    batch_size: int = 128
    lr: float = 4e-3
    weight_decay: float = 0.05
    warmup: int = 50
    seed: int = 0
    eval_num: int = 500
    eval_pool: int = 100
    model: MiniClipConfig = dataclasses.field(default_factory=MiniClipConfig)

    def __post_init__(self) -> None:
        if self.num < self.batch_size:
            raise ValueError(f"num={self.num} scenes cannot fill one batch of batch_size={self.batch_size}")
        if self.captions_per_scene < 1 or self.steps < 1:
            raise ValueError("captions_per_scene and steps must be at least 1")
        if self.eval_num and self.eval_num % self.eval_pool:
            raise ValueError(f"eval_num={self.eval_num} must be a multiple of eval_pool={self.eval_pool}")

    @property
    def optim(self) -> OptimConfig:
        """AdamW (β = (0.9, 0.98)) and the warm-up + cosine schedule to ``lr / 10`` as the shared config."""
        return OptimConfig(lr=self.lr, min_lr=self.lr / 10, betas=(0.9, 0.98), weight_decay=self.weight_decay,
                           warmup_steps=self.warmup)  # fmt: skip


@dataclasses.dataclass
class TrainResult:
    """What :func:`train_miniclip` returns: the model, its vocabulary, the loss per step, the
    held-out retrieval metrics, provenance for the card, and the wall time split."""

    model: MiniClip
    vocab: WordVocab
    losses: list[float]
    metrics: dict[str, float]
    training: dict[str, object]


def render_pairs(
    seed: int, indices: Sequence[int], captions_per_scene: int, resolution: int = 64, progress: bool = False
) -> tuple[torch.Tensor, list[list[str]]]:
    """SynthWorld scenes ``indices`` of world ``seed`` -> RGB uint8 (N, S, S, 3) and N lists of captions.

    Caption 0 of a scene is its ``render_sample`` caption; caption k > 0 re-describes the same visible
    objects with caption seed ``[seed, index, 2, k]``.
    """
    cfg = SynthWorldConfig(resolution=resolution)
    images, captions = [], []
    for index in tqdm(indices, desc="render", unit="scene", disable=not progress, leave=False):
        scene = sample_scene(seed, int(index), cfg)
        sample = render_scene(scene, cfg, *(np.random.default_rng([seed, index, s]) for s in (1, 2)))
        wall = bool((sample["semseg"] == WALL).any())
        rngs = (np.random.default_rng([seed, index, 2, k]) for k in range(1, captions_per_scene))
        extra = [caption(scene, sample["det"], wall, rng) for rng in rngs]
        images.append(sample["rgb"])
        captions.append([sample["caption"], *extra])
    return torch.from_numpy(np.stack(images)), captions


def retrieval_recall(
    image_emb: torch.Tensor, text_emb: torch.Tensor, pool: int = 100, ks: Sequence[int] = (1, 5)
) -> dict[str, float]:
    """Recall@k of matching pairs among consecutive pools of ``pool`` pairs, averaged over pools.

    Args:
        image_emb, text_emb: (N, E) embeddings, row i of each is a pair; N a multiple of ``pool``.

    Returns:
        ``{"text_to_image_r@k": ..., "image_to_text_r@k": ...}`` in [0, 1]; chance is k / pool.
    """
    n = image_emb.shape[0]
    if n == 0 or n % pool or text_emb.shape[0] != n:
        raise ValueError(f"need the same number of image and text rows, a positive multiple of pool={pool}")
    pairs = {"image_to_text": (image_emb, text_emb), "text_to_image": (text_emb, image_emb)}
    return {f"{direction}_{key}": value for direction, (queries, gallery) in pairs.items()
            for key, value in pooled_recall(queries, gallery, ks, pool).items()}  # fmt: skip


def evaluate_retrieval(
    labeler: TextAlignedLabeler, seed: int, num: int, pool: int = 100, start: int = HELDOUT_START
) -> dict[str, float]:
    """Retrieval of scenes ``start .. start+num-1`` of world ``seed`` by their own captions (see above)."""
    rgb, captions = render_pairs(seed, range(start, start + num), 1)
    return retrieval_recall(labeler.global_embedding(rgb), labeler.encode_text([c[0] for c in captions]), pool)


def _batches(n: int, batch_size: int, generator: torch.Generator):
    """Endless index batches (batch_size,): reshuffled every epoch, the incomplete tail dropped."""
    while True:
        order = torch.randperm(n, generator=generator)
        yield from order[: n - n % batch_size].view(-1, batch_size)


def fit_miniclip(
    rgb: torch.Tensor, captions: Sequence[Sequence[str]], cfg: MiniClipTrainConfig, progress: bool = True
) -> tuple[MiniClip, WordVocab, list[float]]:
    """Train a fresh MiniCLIP on N scenes: RGB uint8 (N, S, S, 3) and N lists of ``captions_per_scene``
    captions -> (model in eval mode, its vocabulary, loss per step)."""
    n, per_scene = rgb.shape[0], cfg.captions_per_scene
    if len(captions) != n or any(len(c) != per_scene for c in captions):
        raise ValueError(f"need {per_scene} captions for each of the {n} scenes")
    vocab = WordVocab.build(c for scene in captions for c in scene)
    ids, keep = vocab.encode([c for scene in captions for c in scene], cfg.model.max_text_len)  # (N*K, L)
    ids, keep = ids.view(n, per_scene, -1), keep.view(n, per_scene, -1)  # (N, K, L)

    model = MiniClip(dataclasses.replace(cfg.model, vocab_size=len(vocab), init_seed=cfg.seed)).train()
    optim = build_optimizer(model, cfg.optim, cfg.batch_size)  # matrices decay; norms, biases, scale do not
    scheduler = build_scheduler(optim, cfg.optim, cfg.steps, cfg.batch_size)
    generator = torch.Generator().manual_seed(cfg.seed)
    batches = _batches(n, cfg.batch_size, generator)
    losses: list[float] = []
    bar = tqdm(range(cfg.steps), desc="miniclip", unit="step", disable=not progress)
    for step in bar:
        index = next(batches)  # (B,)
        pick = torch.randint(per_scene, (cfg.batch_size,), generator=generator)  # (B,) caption per scene
        batch_keep = keep[index, pick]  # (B, L)
        length = int(batch_keep.sum(dim=1).max())
        loss = contrastive_loss(model(rgb[index], ids[index, pick, :length], batch_keep[:, :length]))
        optim.zero_grad(set_to_none=True)
        loss.backward()
        optim.step()
        scheduler.step()
        losses.append(loss.item())
        if step % 10 == 0 or step == cfg.steps - 1:
            bar.set_postfix(loss=f"{losses[-1]:.3f}", temp=f"{1.0 / model.logit_scale.exp().item():.3f}")
    bar.close()
    return model.eval(), vocab, losses


def train_miniclip(cfg: MiniClipTrainConfig, progress: bool = True) -> TrainResult:
    """Render the data, train a MiniCLIP as described in the module docstring, evaluate it."""
    t0 = time.perf_counter()
    rgb, captions = render_pairs(cfg.data_seed, range(cfg.num), cfg.captions_per_scene, cfg.model.image_size, progress)
    t_data = time.perf_counter() - t0
    model, vocab, losses = fit_miniclip(rgb, captions, cfg, progress)
    t_train = time.perf_counter() - t0 - t_data
    metrics: dict[str, float] = {}
    if cfg.eval_num:
        scores = evaluate_retrieval(MiniClipLabeler(model, vocab), cfg.data_seed, cfg.eval_num, cfg.eval_pool)
        metrics = {k: round(v, 4) for k, v in scores.items()} | {"pool": float(cfg.eval_pool)}
    training = {
        "config": {k: v for k, v in to_dict(cfg).items() if k != "model"},  # the card stores the architecture
        "final_loss": round(float(np.mean(losses[-20:])), 4),
        "wall_s": {"data": round(t_data, 1), "train": round(t_train, 1), "total": round(time.perf_counter() - t0, 1)},
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "synthworld": GENERATOR_VERSION,
        "heldout": f"scenes {HELDOUT_START}..{HELDOUT_START + cfg.eval_num - 1} of world {cfg.data_seed}",
    }
    return TrainResult(model=model, vocab=vocab, losses=losses, metrics=metrics, training=training)
