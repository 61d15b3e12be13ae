"""A stand-in image tokenizer: k-means over flattened patches.

4M needs every image-like modality as a grid of discrete ids. The real tokenizers are VQ-VAEs
(:mod:`omnimask.tokenizers.vqvae`) that take minutes to train; this quantiser is fitted in seconds,
so training can run end to end before (or without) them. Switching to a VQ-VAE is a config change:
both map a (B, C, H, W) float map to (B, h·w) ids and back.

Fitting is Lloyd's algorithm with k-means++-style seeding from an explicit generator; empty clusters
are re-seeded from the points farthest from their centre so every code stays in use.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from einops import rearrange
from safetensors.torch import load_file

from omnimask.files import CONFIG_NAME, WEIGHTS_NAME, write_json, write_safetensors


def patchify(maps: torch.Tensor, patch: int) -> torch.Tensor:
    """(B, C, H, W) → (B, h·w, p·p·C) row-major patches."""
    return rearrange(maps, "b c (h p) (w q) -> b (h w) (p q c)", p=patch, q=patch)


def unpatchify(patches: torch.Tensor, patch: int, grid: tuple[int, int]) -> torch.Tensor:
    """(B, h·w, p·p·C) → (B, C, H, W), the inverse of :func:`patchify`."""
    return rearrange(patches, "b (h w) (p q c) -> b c (h p) (w q)", h=grid[0], w=grid[1], p=patch, q=patch)


def nearest_code(points: torch.Tensor, codebook: torch.Tensor, chunk: int = 65536) -> torch.Tensor:
    """Index of the nearest codebook row (squared Euclidean) for each row of ``points`` (P, F)."""
    sq = (codebook * codebook).sum(1)
    out = torch.empty(points.shape[0], dtype=torch.long)
    for start in range(0, points.shape[0], chunk):
        p = points[start : start + chunk]
        out[start : start + chunk] = (sq[None, :] - 2 * p @ codebook.T).argmin(1)
    return out


def fit_kmeans(points: torch.Tensor, k: int, iters: int, generator: torch.Generator) -> torch.Tensor:
    """Lloyd's k-means on ``points`` (P, F); returns the codebook (k, F)."""
    if points.shape[0] < k:
        raise ValueError(f"k-means needs at least k={k} points, got {points.shape[0]}: fit on more samples")
    points = points.float()
    codebook = points[torch.randperm(points.shape[0], generator=generator)[:k]].clone()
    for _ in range(iters):
        assign = nearest_code(points, codebook)
        counts = torch.bincount(assign, minlength=k)
        sums = torch.zeros_like(codebook).index_add_(0, assign, points)
        filled = counts > 0
        codebook[filled] = sums[filled] / counts[filled, None]
        empty = (~filled).nonzero().flatten()
        if len(empty):
            dist = ((points - codebook[assign]) ** 2).sum(1)
            codebook[empty] = points[dist.topk(len(empty)).indices]
    return codebook


class KMeansPatchTokenizer:
    """Maps (B, C, H, W) float maps to (B, h·w) ids with a k-means patch codebook, and back."""

    def __init__(self, codebook: torch.Tensor, patch: int, channels: int) -> None:
        if codebook.ndim != 2 or codebook.shape[1] != patch * patch * channels:
            raise ValueError(f"codebook {tuple(codebook.shape)} does not hold {patch}x{patch}x{channels} patches")
        self.codebook = codebook.float()
        self.patch = patch
        self.channels = channels

    @property
    def vocab_size(self) -> int:
        return self.codebook.shape[0]

    @classmethod
    def fit(
        cls, maps: torch.Tensor, patch: int, vocab_size: int, iters: int = 15, seed: int = 0
    ) -> KMeansPatchTokenizer:
        """Fit on (S, C, H, W) maps."""
        points = patchify(maps.float(), patch).flatten(0, 1)
        codebook = fit_kmeans(points, vocab_size, iters, torch.Generator().manual_seed(seed))
        return cls(codebook, patch, maps.shape[1])

    def _check(self, maps: torch.Tensor) -> None:
        if maps.ndim != 4 or maps.shape[1] != self.channels or maps.shape[2] % self.patch or maps.shape[3] % self.patch:
            raise ValueError(
                f"expected (B, {self.channels}, H, W) maps with H, W multiples of {self.patch}, got {tuple(maps.shape)}"
            )

    def tokenize(self, maps: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) float → (B, h·w) int64 ids."""
        self._check(maps)
        patches = patchify(maps.float(), self.patch)
        return nearest_code(patches.flatten(0, 1), self.codebook).view(patches.shape[:2])

    def detokenize(self, ids: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
        """(B, h·w) ids → (B, C, H, W) reconstruction."""
        return unpatchify(self.codebook[ids], self.patch, grid)

    def save(self, directory: str | Path) -> None:
        directory = Path(directory)
        write_safetensors(directory / WEIGHTS_NAME, {"codebook": self.codebook})
        card = {"type": "kmeans_patch", "patch": self.patch, "channels": self.channels, "vocab_size": self.vocab_size}
        write_json(directory / CONFIG_NAME, card)

    @classmethod
    def load(cls, directory: str | Path) -> KMeansPatchTokenizer:
        directory = Path(directory)
        card = json.loads((directory / CONFIG_NAME).read_text())
        if card.get("type") != "kmeans_patch":
            raise ValueError(f"{directory} is not a k-means patch tokenizer (type {card.get('type')!r})")
        return cls(load_file(str(directory / WEIGHTS_NAME))["codebook"], card["patch"], card["channels"])
