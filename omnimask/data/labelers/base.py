"""The labeler protocols: how a frozen network (or an exact formula) turns RGB into 4M's modalities.

Two kinds. An :class:`ImageLabeler` writes dataset modalities for a user's photos (``omnimask
label``): ``label(crops)`` maps a batch of :class:`~omnimask.images.Crop` to one dict per
image, modality name (a folder of the dataset layout, e.g. ``edges``, ``det``, ``depth``) → value in
the format :func:`omnimask.data.synthworld.writer.encode` writes.

4M-21 distils the outputs of other networks into token modalities: dense feature maps
(``tok_clip@224``, ``tok_dinov2@224``, ``tok_imagebind@224``) and global embeddings
(``tok_dinov2_global``, ``tok_imagebind_global``). A *feature labeler* is anything that produces
those two outputs from a batch of RGB images:

* ``patch_features(rgb)`` — uint8 (B, H, W, 3) -> float32 (B, h, w, C), one C-vector per patch;
* ``global_embedding(rgb)`` — uint8 (B, H, W, 3) -> float32 (B, E), one vector per image;

and a CLIP-like labeler also embeds text into the same space (``encode_text(captions)`` -> (B, E)).
omnimask ships a small one, MiniCLIP (:mod:`omnimask.data.labelers.miniclip`), trained on
SynthWorld; real networks plug in through :mod:`omnimask.data.labelers.registry` with the same
protocol. :func:`as_rgb_batch` is the shared input check every implementation should call first.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch


class LabelerInputError(ValueError):
    """An input a labeler cannot take (wrong shape, dtype or type); the message says what to pass."""


@runtime_checkable
class ImageLabeler(Protocol):
    """Something that labels photos with dataset modalities (see the module docstring).

    Attributes:
        name: registry name.
        writes: the dataset modalities it writes (folders of the layout).
        standin: True when a SynthWorld-trained model stands in for the real network 4M used.
    """

    name: str
    writes: tuple[str, ...]
    standin: bool

    def label(self, crops: Sequence[Any]) -> list[dict[str, Any]]:
        """B :class:`~omnimask.images.Crop` → B dicts, modality → value."""
        ...


@runtime_checkable
class FeatureLabeler(Protocol):
    """A frozen image network seen as a source of a feature-map and a global-embedding modality.

    Attributes:
        name: registry name (``"miniclip"``, or whatever a user registers).
        feature_dim: C of :meth:`patch_features`.
        embedding_dim: E of :meth:`global_embedding`.
    """

    name: str

    # read-only properties, so that a labeler may compute them (a plain attribute satisfies them too)
    @property
    def feature_dim(self) -> int: ...

    @property
    def embedding_dim(self) -> int: ...

    def patch_features(self, rgb: np.ndarray | torch.Tensor) -> torch.Tensor:
        """uint8 RGB (B, H, W, 3) -> float32 (B, h, w, C) patch features on the CPU."""
        ...

    def global_embedding(self, rgb: np.ndarray | torch.Tensor) -> torch.Tensor:
        """uint8 RGB (B, H, W, 3) -> float32 (B, E) image embeddings on the CPU."""
        ...


@runtime_checkable
class TextAlignedLabeler(FeatureLabeler, Protocol):
    """A feature labeler whose global embedding shares a space with text (CLIP, ImageBind)."""

    def encode_text(self, captions: Sequence[str]) -> torch.Tensor:
        """B captions -> float32 (B, E) text embeddings, comparable to :meth:`global_embedding`."""
        ...


def as_rgb_batch(rgb: np.ndarray | torch.Tensor) -> torch.Tensor:
    """Check a batch of RGB images and return it as a uint8 tensor (B, H, W, 3) on the CPU.

    Raises:
        LabelerInputError: not an array, not 4-D channels-last with 3 channels, not uint8, or empty.
    """
    if isinstance(rgb, np.ndarray):
        if rgb.dtype != np.uint8:
            raise LabelerInputError(
                f"RGB must be uint8 in 0..255, got dtype {rgb.dtype}; convert with (x * 255).round().astype(np.uint8)"
            )
        rgb = torch.from_numpy(np.ascontiguousarray(rgb))
    elif not isinstance(rgb, torch.Tensor):
        raise LabelerInputError(f"RGB must be a numpy array or a torch tensor, got {type(rgb).__name__}")
    if rgb.dtype != torch.uint8:
        raise LabelerInputError(f"RGB must be uint8 in 0..255, got dtype {rgb.dtype}")
    if rgb.ndim == 3 and rgb.shape[-1] == 3:
        raise LabelerInputError(f"expected a batch (B, H, W, 3), got one image {tuple(rgb.shape)}; pass rgb[None]")
    if rgb.ndim != 4 or rgb.shape[-1] != 3:
        hint = "; channels-first input? use rgb.permute(0, 2, 3, 1)" if rgb.ndim == 4 and rgb.shape[1] == 3 else ""
        raise LabelerInputError(f"expected RGB of shape (B, H, W, 3), got {tuple(rgb.shape)}{hint}")
    if rgb.shape[0] == 0 or rgb.shape[1] == 0 or rgb.shape[2] == 0:
        raise LabelerInputError(f"empty RGB batch {tuple(rgb.shape)}")
    return rgb.cpu()
