"""Transforms between stored samples and what the model reads.

Stores keep RGB as (H, W, 3) uint8 (small, exact); the model reads (3, H, W) float32 normalised
the way the released 4M feeds RGB (:func:`omnimask.tokenizers.pixels.normalise_rgb`). :func:`model_inputs`
applies that to the ``pixels`` modalities of a raw token sample just before masking.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from omnimask.modalities import ModalitySpec
from omnimask.tokenizers.pixels import normalise_rgb


def model_inputs(raw: Mapping[str, Any], specs: Mapping[str, ModalitySpec]) -> dict[str, Any]:
    """``raw`` with stored uint8 images of ``pixels`` modalities normalised for the model."""
    out = dict(raw)
    for name, spec in specs.items():
        value = out.get(name)
        if spec.is_pixels and isinstance(value, np.ndarray) and value.dtype == np.uint8:
            out[name] = normalise_rgb(value)
    return out
