"""RGB pixels as a 4M model reads them: the ImageNet normalisation of the released models.

A ``pixels`` modality (``rgb@224``) has no tokenizer: its patches are embedded directly. The model
expects (3, H, W) float32 images normalised with the ImageNet mean and standard deviation, as the
released 4M feeds RGB; :func:`normalise_rgb` makes them from stored uint8 images and
:func:`denormalise_rgb` turns them back into pictures. Training data (:mod:`omnimask.data.transforms`)
and generation conditions (:class:`omnimask.generation.conditions.Conditioner`) both go through here.
"""

from __future__ import annotations

import numpy as np

from omnimask.tokenizers.map_features import map_features

#: Per-channel mean and standard deviation, shaped (3, 1, 1) for (3, H, W) images.
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], np.float32)[:, None, None]
IMAGENET_STD = np.array([0.229, 0.224, 0.225], np.float32)[:, None, None]


def normalise_rgb(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 → (3, H, W) float32, ImageNet mean/std as the released 4M feeds RGB."""
    return (map_features("rgb").to_features(rgb, 0) - IMAGENET_MEAN) / IMAGENET_STD


def denormalise_rgb(pixels: np.ndarray) -> np.ndarray:
    """(3, H, W) normalised float → (H, W, 3) uint8 picture (values outside [0, 1] clipped)."""
    rgb = np.asarray(pixels, np.float32) * IMAGENET_STD + IMAGENET_MEAN
    return (np.clip(rgb.transpose(1, 2, 0), 0, 1) * 255 + 0.5).astype(np.uint8)
