"""The demo's figures, one module each, in page order; each exposes ``make(ctx) -> Figure``,
``SLUG``, ``TITLE`` and ``EXPLANATION``."""

from __future__ import annotations

from types import ModuleType

from omnimask.demo.figures import (
    box_moves,
    caption_to_all,
    guidance_sweep,
    metadata_steering,
    retrieval,
    rgb_to_all,
    seg_edit,
)

#: Figure modules in page order.
FIGURES: tuple[ModuleType, ...] = (
    rgb_to_all,
    caption_to_all,
    box_moves,
    seg_edit,
    guidance_sweep,
    metadata_steering,
    retrieval,
)

__all__ = ["FIGURES"]
