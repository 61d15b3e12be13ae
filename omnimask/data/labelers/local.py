"""Adapters for the networks 4M pseudo-labels with, run from files a user puts on disk.

4M labels depth and normals with DPT / Omnidata and semantic maps with Mask2Former. omnimask ships
none of their weights and downloads nothing; a user exports the network once, with
``torch.export``, into a folder this adapter runs::

    DIR/model.pt2       torch.export.save(torch.export.export(net, (x,)), "model.pt2") — input
                        x (B, 3, S, S) float32 RGB normalised with the ImageNet mean / std
    DIR/labeler.json    {"input_size": S}  (and, for semseg, optionally "classes": [names])

Outputs the program must return, by adapter (:data:`LOCAL_NETWORKS`):

* ``dpt_depth`` → ``depth``: (B, 1, S, S) depth in metres (z-depth; 0 = invalid);
* ``omnidata_normal`` → ``normal``: (B, 3, S, S) camera-frame normals (x right, y up, z toward the
  camera), any length (normalised here);
* ``mask2former_semseg`` → ``semseg``: (B, K, S, S) class logits, K <= 256;
* ``sam_instance`` → ``instance``: (B, K, S, S) mask logits of K <= 255 instances (SAM's automatic
  masks, stacked); a pixel belongs to the instance of its largest positive logit, else 0 (background).

A captioner has no adapter here: its output is text, not a tensor a ``torch.export`` program returns;
write captions with your own :class:`~omnimask.data.labelers.base.ImageLabeler` (``writes=("caption",)``).

Maps are resized to the dataset resolution (bilinear for depth / normals, nearest class for semseg).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from omnimask.config import ConfigError
from omnimask.images import Crop
from omnimask.tokenizers.pixels import normalise_rgb


@dataclasses.dataclass(frozen=True)
class LocalNetwork:
    """One adapter: the dataset modality it writes and the output it expects (module docstring)."""

    modality: str
    channels: str
    network: str


#: Adapter name → :class:`LocalNetwork`.
LOCAL_NETWORKS: dict[str, LocalNetwork] = {
    "dpt_depth": LocalNetwork("depth", "(B, 1, S, S) metres", "DPT / Omnidata depth"),
    "omnidata_normal": LocalNetwork("normal", "(B, 3, S, S) camera-frame normals", "Omnidata normals"),
    "mask2former_semseg": LocalNetwork("semseg", "(B, K, S, S) class logits", "Mask2Former"),
    "sam_instance": LocalNetwork("instance", "(B, K, S, S) instance mask logits", "SAM"),
}


class ExportedNetworkLabeler:
    """Runs ``DIR/model.pt2`` as the labeler ``name`` of :data:`LOCAL_NETWORKS` (module docstring)."""

    standin = False

    def __init__(self, name: str, path: Path | None) -> None:
        spec = LOCAL_NETWORKS[name]
        layout = (f"a folder with model.pt2 (torch.export of {spec.network}: (B, 3, S, S) ImageNet-normalised RGB "
                  f"-> {spec.channels}) and labeler.json {{\"input_size\": S}}")
        if path is None:
            raise ConfigError(f"labeler {name} runs a network you export yourself; give its folder "
                              f"(--labeler-path {name}=DIR): {layout}. Nothing is downloaded.")
        if not (path / "model.pt2").is_file() or not (path / "labeler.json").is_file():
            raise ConfigError(f"labeler {name}: {path} needs {layout}")
        self.name, self.writes, self.spec = name, (spec.modality,), spec
        self.input_size = int(json.loads((path / "labeler.json").read_text())["input_size"])
        self.program = torch.export.load(str(path / "model.pt2")).module()

    def _inputs(self, crops: Sequence[Crop]) -> torch.Tensor:
        from PIL import Image

        size = self.input_size
        images = [np.asarray(Image.fromarray(c.detail).resize((size, size), Image.Resampling.BICUBIC)) for c in crops]
        return torch.from_numpy(np.stack([normalise_rgb(im) for im in images]))

    def label(self, crops: Sequence[Crop]) -> list[dict[str, Any]]:
        resolution = crops[0].rgb.shape[0]
        with torch.no_grad():
            out = self.program(self._inputs(crops)).float()
        if self.spec.modality in ("semseg", "instance"):
            logits = F.interpolate(out, size=(resolution, resolution), mode="nearest")
            ids = logits.argmax(1)
            if self.spec.modality == "instance":
                ids = torch.where(logits.amax(1) > 0, ids + 1, torch.zeros_like(ids))
            return [{self.spec.modality: m.numpy().astype(np.uint8)} for m in ids]
        maps = F.interpolate(out, size=(resolution, resolution), mode="bilinear", align_corners=False)
        if self.spec.modality == "depth":
            return [{"depth": m[0].clamp_min(0).numpy().astype(np.float32)} for m in maps]
        unit = F.normalize(maps, dim=1)
        return [{"normal": m.permute(1, 2, 0).numpy().astype(np.float32)} for m in unit]
