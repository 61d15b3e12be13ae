"""Feature labelers by name: the way real networks (CLIP, DINOv2, ImageBind) plug in beside MiniCLIP.

A *loader* is a function ``loader(path) -> FeatureLabeler`` taking a local weights path (``None``
means the loader's own default, if it has one). omnimask registers ``"miniclip"``, whose default is
the checkpoint shipped in ``omnimask/assets/miniclip``. Nothing here downloads anything: to use a real
network, write a small adapter class with ``patch_features`` / ``global_embedding`` (see
:class:`~omnimask.data.labelers.base.FeatureLabeler`), register a loader that builds it from files on
disk, and load it by name::

    register_labeler("dinov2_b14", lambda path: MyDinoAdapter.from_directory(path))
    labeler = load_labeler("dinov2_b14", "/models/dinov2-base")
    feats = labeler.patch_features(rgb_batch)  # (B, h, w, C)
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from omnimask.data.labelers.base import FeatureLabeler
from omnimask.data.labelers.miniclip_labeler import load_miniclip

Loader = Callable[[Path | None], FeatureLabeler]

_LOADERS: dict[str, Loader] = {"miniclip": load_miniclip}


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


def load_labeler(name: str, path: str | Path | None = None) -> FeatureLabeler:
    """The labeler ``name`` built from local weights ``path`` (None: the loader's default).

    Raises:
        KeyError: ``name`` is not registered (the message lists the registered names).
        TypeError: the loader returned something without the :class:`FeatureLabeler` protocol.
    """
    if name not in _LOADERS:
        raise KeyError(
            f"no labeler named {name!r}; registered: {available_labelers()} "
            "(add one with omnimask.data.labelers.registry.register_labeler)"
        )
    labeler = _LOADERS[name](Path(path) if path is not None else None)
    if not isinstance(labeler, FeatureLabeler):
        raise TypeError(
            f"the loader of {name!r} returned {type(labeler).__name__}, which lacks name / feature_dim / "
            "embedding_dim / patch_features / global_embedding"
        )
    return labeler
