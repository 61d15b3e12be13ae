"""Labelers by name: the way real networks (CLIP, DINOv2, ImageBind, DPT …) plug in beside omnimask's own.

A *loader* is a function ``loader(path) -> labeler`` taking a local weights path (``None`` means the
loader's own default, if it has one); the labeler is a :class:`FeatureLabeler` (feature modalities)
or an :class:`ImageLabeler` (dataset modalities of photos, for ``omnimask label``). omnimask
registers ``"miniclip"`` (default: the checkpoint shipped in ``omnimask/assets/miniclip``), the
weight-free photo labelers ``metadata``, ``color_palette``, ``canny`` and ``faces``
(:mod:`~omnimask.data.labelers.photo`) and the adapters of :mod:`~omnimask.data.labelers.local`
(``dpt_depth``, ``omnidata_normal``, ``mask2former_semseg``, ``sam_instance``, ``captioner`` and the
feature labelers ``clip``, ``dinov2``, ``imagebind``: a path is required). The stand-in
``synth_small`` (the shipped model predicting depth, normals and semseg) is registered by
:mod:`omnimask.generation.standin`. Nothing here downloads anything: to use a real
network, write a small adapter class with ``patch_features`` / ``global_embedding`` (see
:class:`~omnimask.data.labelers.base.FeatureLabeler`), register a loader that builds it from files on
disk, and load it by name::

    register_labeler("dinov2_b14", lambda path: MyDinoAdapter.from_directory(path))
    labeler = load_labeler("dinov2_b14", "/models/dinov2-base")
    feats = labeler.patch_features(rgb_batch)  # (B, h, w, C)
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path

from omnimask.config import ConfigError
from omnimask.data.labelers.base import FeatureLabeler, ImageLabeler
from omnimask.data.labelers.local import (
    FEATURE_NETWORKS,
    LOCAL_NETWORKS,
    CaptionerLabeler,
    ExportedFeatureLabeler,
    ExportedNetworkLabeler,
)
from omnimask.data.labelers.miniclip_labeler import load_miniclip
from omnimask.data.labelers.photo import CannyLabeler, FaceLabeler, MetadataLabeler, PaletteLabeler

Labeler = FeatureLabeler | ImageLabeler
#: The registered feature labelers omnimask itself provides (used by ``pretokenize``, not ``label``).
FEATURE_LABELERS: tuple[str, ...] = ("miniclip", *FEATURE_NETWORKS)
Loader = Callable[[Path | None], Labeler]

_LOADERS: dict[str, Loader] = {
    "miniclip": load_miniclip,
    "metadata": lambda path: MetadataLabeler(),
    "color_palette": lambda path: PaletteLabeler(),
    "canny": lambda path: CannyLabeler(),
    "faces": lambda path: FaceLabeler(),
    **{name: partial(ExportedNetworkLabeler, name) for name in LOCAL_NETWORKS},
    "captioner": CaptionerLabeler,
    **{name: partial(ExportedFeatureLabeler, name) for name in FEATURE_NETWORKS},
}


def register_labeler(name: str, loader: Loader, *, overwrite: bool = False) -> None:
    """Make ``load_labeler(name, path)`` call ``loader(path)``; an existing name needs ``overwrite``."""
    if not name or not name.replace("_", "").replace("-", "").replace("@", "").isalnum():
        raise ValueError(f"labeler name {name!r}: use letters, digits, '_', '-' or '@'")
    if name in _LOADERS and not overwrite:
        raise ValueError(f"a labeler named {name!r} is already registered; pass overwrite=True to replace it")
    if not callable(loader):
        raise TypeError(f"loader for {name!r} must be callable as loader(path) -> FeatureLabeler")
    _LOADERS[name] = loader


def available_labelers() -> list[str]:
    """Registered labeler names, sorted."""
    return sorted(_LOADERS)


def load_labeler(name: str, path: str | Path | None = None) -> Labeler:
    """The labeler ``name`` built from local weights ``path`` (None: the loader's default).

    Raises:
        KeyError: ``name`` is not registered (the message lists the registered names).
        TypeError: the loader returned something with neither labeler protocol.
    """
    if name not in _LOADERS:
        raise KeyError(
            f"no labeler named {name!r}; registered: {available_labelers()} "
            "(add one with omnimask.data.labelers.registry.register_labeler)"
        )
    labeler = _LOADERS[name](Path(path) if path is not None else None)
    if not isinstance(labeler, (FeatureLabeler, ImageLabeler)):
        raise TypeError(
            f"the loader of {name!r} returned {type(labeler).__name__}, which is neither a FeatureLabeler (name / "
            "feature_dim / embedding_dim / patch_features / global_embedding) nor an ImageLabeler (name / writes / "
            "standin / label)"
        )
    return labeler


def load_image_labeler(name: str, path: str | Path | None = None) -> ImageLabeler:
    """:func:`load_labeler` for photos: the labeler must write dataset modalities (:class:`ImageLabeler`)."""
    labeler = load_labeler(name, path)
    if not isinstance(labeler, ImageLabeler):
        photo = [n for n in available_labelers() if n not in FEATURE_LABELERS]
        raise ConfigError(f"{name!r} is a feature labeler (its features are computed from the RGB when "
                          f"pre-tokenizing: `omnimask pretokenize --feature-labeler {name}=DIR`); "
                          f"photo labelers: {photo}")
    return labeler
