"""MiniCLIP features of SynthWorld scenes as tokenizer training data, and how well tokens keep them.

4M tokenizes the outputs of other networks too: ``tok_clip@224`` is a spatial VQ-VAE on CLIP's
patch features and 4M-21's ``tok_*_global`` an MLP VQ-VAE on global embeddings. SynthWorld's
counterparts use the shipped MiniCLIP (:mod:`omnimask.data.labelers`):

* ``clip`` — patch features (S, 8, 8, C) float32 (C = MiniCLIP's width, 64), channels last;
* ``clip_global`` — unit-norm image embeddings (S, E) float32 (E = 64).

They are computed once per run from the split's RGB (a few seconds for 6000 scenes) and kept in
memory. :func:`feature_metrics` measures reconstructions: mean cosine similarity to the true
features (per position for maps, per vector for embeddings), relative squared error, and for
embeddings the caption-retrieval R@1 among pools of 100 (image → text, MiniCLIP text embeddings of
the scenes' captions; :func:`omnimask.metrics.pooled_recall`, as in the evaluation)
with the true and with the reconstructed embeddings.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from omnimask.data.synthworld import SynthWorldConfig, assign_splits, render_sample
from omnimask.data.synthworld.dataset import DEFAULT_FRACTIONS, SPLITS
from omnimask.data.synthworld.writer import decode
from omnimask.metrics import pooled_recall

#: Feature modality → what of MiniCLIP it is (``patch`` features or the ``global`` embedding).
FEATURE_KINDS: dict[str, str] = {"clip": "patch", "clip_global": "global"}
#: Labeler that computes the features of every feature modality.
LABELER = "miniclip"
#: Scenes per retrieval pool (4M-style R@1 among 100).
RETRIEVAL_POOL = 100


def miniclip(labeler: Any = None) -> Any:
    """The labeler to use: ``labeler`` if given, else the shipped MiniCLIP."""
    if labeler is not None:
        return labeler
    from omnimask.data.labelers.registry import load_labeler

    return load_labeler(LABELER)


def compute_features(kind: str, rgb: np.ndarray, labeler: Any = None, batch_size: int = 256) -> np.ndarray:
    """uint8 RGB (S, H, W, 3) → float32 ``clip`` patch features (S, h, w, C) or ``clip_global`` (S, E)."""
    if kind not in FEATURE_KINDS:
        raise KeyError(f"no feature modality {kind!r}; known: {sorted(FEATURE_KINDS)}")
    lab = miniclip(labeler)
    outs = []
    for start in range(0, len(rgb), batch_size):
        patch, emb = lab.features(rgb[start : start + batch_size])
        outs.append((patch if FEATURE_KINDS[kind] == "patch" else emb).float().numpy())
    return np.concatenate(outs) if outs else np.zeros((0,), np.float32)


def split_captions(path: str, split: str, count: int, *, seed: int = 0, num_scenes: int = 0,
                   resolution: int = 64) -> list[str]:
    """Captions of the first ``count`` scenes of ``split``, in :func:`load_maps` order: read from an
    ``omnimask synth`` folder ``path``, or (no folder) rendered like the scenes of the rendered split."""
    if path:
        folder = Path(path) / split / "caption"
        files = sorted(folder.glob("*.txt"), key=lambda p: p.name.split(".")[0])[:count]
        return [decode("caption", f.read_bytes()) for f in files]
    indices = np.arange(num_scenes)
    chosen = indices[assign_splits(seed, indices, DEFAULT_FRACTIONS) == SPLITS.index(split)][:count]
    world = SynthWorldConfig(resolution=resolution)
    return [render_sample(seed, int(i), world)["caption"] for i in chosen]


def _cosine(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.cosine_similarity(a, b, dim=-1, eps=1e-8)


def feature_metrics(recon: np.ndarray, true: np.ndarray, text: torch.Tensor | None = None) -> dict[str, Any]:
    """Reconstructed vs true features (S, ..., C): ``cosine`` (mean over vectors along the last axis),
    ``rel_mse`` (‖r − t‖² / ‖t‖²); with ``text`` (S, E) embeddings also ``r1_true`` / ``r1_recon``."""
    r, t = torch.as_tensor(recon).float(), torch.as_tensor(true).float()
    out: dict[str, Any] = {
        "cosine": float(_cosine(r, t).mean()),
        "rel_mse": float((r - t).square().sum() / t.square().sum().clamp_min(1e-12)),
    }
    if text is not None:
        unit = torch.nn.functional.normalize
        txt = unit(torch.as_tensor(text).float(), dim=-1)
        out["r1_true"] = pooled_recall(unit(t, dim=-1), txt, (1,), RETRIEVAL_POOL)["r@1"]
        out["r1_recon"] = pooled_recall(unit(r, dim=-1), txt, (1,), RETRIEVAL_POOL)["r@1"]
    return out
