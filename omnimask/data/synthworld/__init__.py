"""SynthWorld: a procedural 3D world rendered on the CPU with exact, pixel-aligned modalities.

4M learns from aligned modalities that pseudo-labelling networks produce; SynthWorld produces them
exactly instead: RGB, z-depth, camera-frame normals, semantic and instance maps, occlusion edges,
boxes, captions, colour palettes and 4M-21 metadata for scenes of simple solids on a floor.

Entry points:

* :func:`render_sample` ``(seed, index, cfg) -> dict`` — one scene, every modality;
* :class:`SynthWorldDataset` — the first ``num`` scenes (optionally one split), rendered on access;
* :func:`write_dataset` / :func:`load_sample` — the on-disk layout of ``omnimask synth``;
* :func:`preview_grid` — the colourised overview picture;
* :func:`caption_corpus` and :data:`CLASS_NAMES` — text for training a tokenizer.

Modules: ``config`` (tables and :class:`SynthWorldConfig`), ``scene`` (scene graph and sampler),
``raycast`` (ray–solid intersection), ``render`` (shading and maps), ``labels`` (edges, boxes),
``caption``, ``metadata`` (metadata and palette), ``dataset``, ``writer``, ``preview``.
"""

from omnimask.data.synthworld.config import SEMANTIC_CLASSES, SHAPES, SynthWorldConfig
from omnimask.data.synthworld.dataset import (
    SynthWorldDataset,
    assign_splits,
    caption_corpus,
    render_sample,
    render_scene,
)
from omnimask.data.synthworld.preview import preview_grid
from omnimask.data.synthworld.scene import Scene, sample_scene
from omnimask.data.synthworld.writer import load_sample, write_dataset

#: Class names of SynthWorld's ``det`` boxes (atomic tokens for a text tokenizer).
CLASS_NAMES: tuple[str, ...] = SHAPES

__all__ = [
    "CLASS_NAMES",
    "SEMANTIC_CLASSES",
    "SHAPES",
    "Scene",
    "SynthWorldConfig",
    "SynthWorldDataset",
    "assign_splits",
    "caption_corpus",
    "load_sample",
    "preview_grid",
    "render_sample",
    "render_scene",
    "sample_scene",
    "write_dataset",
]
