"""SynthWorld transfer tasks: labels pre-training never saw, computed exactly from each rendered sample.

4M's transfer claim is that a pretrained model fine-tunes to *unseen* downstream tasks better than
the same network from scratch. None of these labels is a 4M modality of the shipped model; each is a
pure function of one sample of :func:`~omnimask.data.synthworld.render_sample` (its maps, boxes and
scene graph), so the data is exact:

* ``object_count`` (classification, 7 classes) — how many objects are visible (``det`` records);
* ``largest_color`` (classification, one class per colour + "none") — the colour of the visible
  object that covers the most pixels;
* ``light_direction`` (regression, 3 values) — the unit vector toward the light in the camera frame
  (x right, y up, z toward the viewer);
* ``occlusion_order`` (segmentation, 4 classes) — per pixel: 0 no object, 1 the visible object
  nearest the camera (by the distance of its centre), 2 the second nearest, 3 any farther one;
* ``height`` (dense regression) — per pixel, the height in metres above the floor of the surface
  seen there (0 on sky), from the z-depth and the camera.

:data:`TRANSFER_TASKS` is the table ``omnimask finetune --task`` and the benchmark read.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any, Literal

import numpy as np

from omnimask.config import ConfigError, from_dict
from omnimask.data.synthworld.config import COLORS
from omnimask.data.synthworld.render import camera_rays
from omnimask.data.synthworld.scene import Camera

Sample = Mapping[str, Any]
#: Head kinds a transfer task can have (those of :data:`omnimask.model.heads.HEADS`).
TaskKind = Literal["classification", "regression", "segmentation", "dense_regression"]

#: Classes of ``occlusion_order``: no object, nearest, second nearest, farther.
OCCLUSION_CLASSES: tuple[str, ...] = ("none", "nearest", "second", "farther")
#: Classes of ``largest_color``: the SynthWorld colours, then "none" (no visible object).
COLOR_CLASSES: tuple[str, ...] = (*COLORS, "none")
#: Classes of ``object_count``: 0..6 visible objects (SynthWorld places at most six).
MAX_COUNT = 6


def object_count(sample: Sample) -> np.ndarray:
    """() int64: the number of visible objects."""
    return np.array(len(sample["det"]), dtype=np.int64)


def largest_color(sample: Sample) -> np.ndarray:
    """() int64: index in :data:`COLOR_CLASSES` of the colour of the visible object with the most pixels."""
    if not sample["det"]:
        return np.array(len(COLOR_CLASSES) - 1, dtype=np.int64)
    largest = max(sample["det"], key=lambda d: d["pixels"])
    return np.array(COLOR_CLASSES.index(largest["colour"]), dtype=np.int64)


def _camera(sample: Sample) -> Camera:
    return from_dict(Camera, sample["scene"]["camera"])


def light_direction(sample: Sample) -> np.ndarray:
    """(3,) float32: unit vector toward the light, in the camera frame."""
    world = np.asarray(sample["scene"]["light"]["direction"], dtype=np.float64)
    return (world @ _camera(sample).basis()).astype(np.float32)  # basis columns: camera axes in world


def occlusion_order(sample: Sample) -> np.ndarray:
    """(H, W) uint8: per pixel, the depth rank of the visible object seen there (see the module docstring)."""
    instance = np.asarray(sample["instance"])
    eye = np.asarray(sample["scene"]["camera"]["eye"], dtype=np.float64)
    objects = sample["scene"]["objects"]
    visible = [d["instance"] for d in sample["det"]]
    distance = {k: float(np.linalg.norm(np.asarray(objects[k - 1]["center"]) - eye)) for k in visible}
    rank_of = np.zeros(len(objects) + 1, dtype=np.uint8)  # instance id -> class; hidden objects stay 0
    for rank, k in enumerate(sorted(visible, key=distance.__getitem__)):
        rank_of[k] = min(rank + 1, len(OCCLUSION_CLASSES) - 1)
    return rank_of[instance]


def height(sample: Sample) -> np.ndarray:
    """(H, W) float32: height above the floor (world ``y``) of the surface at each pixel, 0 on sky."""
    depth = np.asarray(sample["depth"], dtype=np.float64)
    camera = _camera(sample)
    cam_dirs, world_dirs = camera_rays(camera, depth.shape[0], camera.basis())
    t = depth.ravel() / -cam_dirs[:, 2]  # z-depth -> distance along the unit ray
    y = camera.eye[1] + t * world_dirs[:, 1]
    return np.where(depth.ravel() > 0, y, 0.0).reshape(depth.shape).astype(np.float32)


@dataclasses.dataclass(frozen=True, kw_only=True)
class TransferTask:
    """One transfer task: its head type, output size and the label function.

    Attributes:
        name: the key in :data:`TRANSFER_TASKS`.
        kind: a head kind of :data:`omnimask.model.heads.HEADS`.
        label: sample -> label array ((), (C,), or (H, W)).
        num_classes: classes of classification / segmentation tasks.
        out_dim: values of a regression task.
        describe: one line for ``omnimask finetune --list-tasks``.
    """

    name: str
    kind: TaskKind
    label: Callable[[Sample], np.ndarray]
    num_classes: int = 0
    out_dim: int = 0
    describe: str = ""


TRANSFER_TASKS: dict[str, TransferTask] = {
    t.name: t
    for t in (
        TransferTask(name="object_count", kind="classification", label=object_count, num_classes=MAX_COUNT + 1,
                     describe="number of visible objects (0-6)"),
        TransferTask(name="largest_color", kind="classification", label=largest_color,
                     num_classes=len(COLOR_CLASSES), describe="colour of the largest visible object"),
        TransferTask(name="light_direction", kind="regression", label=light_direction, out_dim=3,
                     describe="unit vector toward the light, camera frame"),
        TransferTask(name="occlusion_order", kind="segmentation", label=occlusion_order,
                     num_classes=len(OCCLUSION_CLASSES), describe="per pixel: nearest / second / farther object"),
        TransferTask(name="height", kind="dense_regression", label=height,
                     describe="per pixel: height above the floor in metres"),
    )
}


def transfer_labels(sample: Sample, task: str) -> np.ndarray:
    """The label of ``task`` for one rendered sample (a :func:`render_sample` dict)."""
    if task not in TRANSFER_TASKS:
        raise ConfigError(f"unknown transfer task {task!r}; choose one of {sorted(TRANSFER_TASKS)}")
    return TRANSFER_TASKS[task].label(sample)
