"""Adapters for the networks 4M pseudo-labels with, run from files a user puts on disk.

4M labels depth and normals with DPT / Omnidata, semantic maps with Mask2Former, instances with SAM,
captions with a captioner, and distils CLIP / DINOv2 / ImageBind features. omnimask ships none of
their weights and downloads nothing; a user exports the network once, with ``torch.export``, into a
folder an adapter runs::

    DIR/model.pt2       torch.export.save(torch.export.export(net, (x,), dynamic_shapes={"x": {0:
                        torch.export.Dim("batch")}}), "model.pt2") — input x (B, 3, S, S) float32 RGB
                        normalised with the ImageNet mean / std (a program exported without a dynamic
                        batch also works, one image at a time)
                        (feature networks: with labeler.json's "mean" / "std" when given)
    DIR/labeler.json    {"input_size": S}  (semseg: optionally "classes": [names]; captioner: "eos": id)
    DIR/vocab.json      captioner only: ["token", ...], id -> text piece ("▁" starts a word)

Outputs the program must return, by adapter — photo labelers (:data:`LOCAL_NETWORKS`, for
``omnimask label``):

* ``dpt_depth`` → ``depth``: (B, 1, S, S) depth in metres (z-depth; 0 = invalid);
* ``omnidata_normal`` → ``normal``: (B, 3, S, S) camera-frame normals (x right, y up, z toward the
  camera), any length (normalised here);
* ``mask2former_semseg`` → ``semseg``: (B, K, S, S) class logits, K <= 256;
* ``sam_instance`` → ``instance``: (B, K, S, S) mask logits of K <= 255 instances (SAM's automatic
  masks, stacked); a pixel belongs to the instance of its largest positive logit, else 0 (background);
* ``captioner`` → ``caption``: (B, L) int64 token ids (greedy or beam decoding inside the program),
  read up to the first ``eos`` and joined through ``vocab.json``;

and feature labelers (:data:`FEATURE_NETWORKS`, :class:`~omnimask.data.labelers.base.FeatureLabeler`:
the features of 4M-21's ``tok_clip`` / ``tok_dinov2`` / ``tok_imagebind`` and their global
embeddings, computed from the RGB when pre-tokenizing — ``omnimask pretokenize --feature-labeler``):

* ``clip``, ``dinov2``, ``imagebind`` → a tuple ``(patches, embedding)``: (B, h·w, C) patch tokens
  (row-major over the patch grid, no class token) and (B, E) the global embedding (unit-normalised
  here for CLIP and ImageBind, whose embeddings are compared by cosine).

Maps are resized to the dataset resolution (bilinear for depth / normals, nearest class for semseg).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from omnimask.config import ConfigError
from omnimask.data.labelers.base import as_rgb_batch
from omnimask.images import Crop
from omnimask.tokenizers.pixels import IMAGENET_MEAN, IMAGENET_STD

Decoded = list[dict[str, Any]]


def _classes(out: torch.Tensor, resolution: int) -> torch.Tensor:
    """(B, K, S, S) logits → (B, K, R, R) at the dataset resolution (nearest: class ids stay whole)."""
    return F.interpolate(out, size=(resolution, resolution), mode="nearest")


def _smooth(out: torch.Tensor, resolution: int) -> torch.Tensor:
    return F.interpolate(out, size=(resolution, resolution), mode="bilinear", align_corners=False)


def _depth(out: torch.Tensor, resolution: int) -> Decoded:
    return [{"depth": m[0].clamp_min(0).numpy().astype(np.float32)} for m in _smooth(out, resolution)]


def _normal(out: torch.Tensor, resolution: int) -> Decoded:
    unit = F.normalize(_smooth(out, resolution), dim=1)
    return [{"normal": m.permute(1, 2, 0).numpy().astype(np.float32)} for m in unit]


def _semseg(out: torch.Tensor, resolution: int) -> Decoded:
    return [{"semseg": m.numpy().astype(np.uint8)} for m in _classes(out, resolution).argmax(1)]


def _instance(out: torch.Tensor, resolution: int) -> Decoded:
    logits = _classes(out, resolution)
    ids = torch.where(logits.amax(1) > 0, logits.argmax(1) + 1, torch.zeros_like(logits.argmax(1)))
    return [{"instance": m.numpy().astype(np.uint8)} for m in ids]


@dataclasses.dataclass(frozen=True)
class LocalNetwork:
    """One photo adapter: the dataset modality it writes, the output it expects (module docstring)
    and how that output becomes one value per image ((B, ...) output, dataset resolution) -> dicts."""

    modality: str
    channels: str
    network: str
    decode: Callable[[torch.Tensor, int], Decoded]


#: Adapter name → :class:`LocalNetwork` (the captioner is :class:`CaptionerLabeler`).
LOCAL_NETWORKS: dict[str, LocalNetwork] = {
    "dpt_depth": LocalNetwork("depth", "(B, 1, S, S) metres", "DPT / Omnidata depth", _depth),
    "omnidata_normal": LocalNetwork("normal", "(B, 3, S, S) camera-frame normals", "Omnidata normals", _normal),
    "mask2former_semseg": LocalNetwork("semseg", "(B, K, S, S) class logits", "Mask2Former", _semseg),
    "sam_instance": LocalNetwork("instance", "(B, K, S, S) instance mask logits", "SAM", _instance),
}


@dataclasses.dataclass(frozen=True)
class FeatureNetwork:
    """One feature adapter: the network 4M-21 distils and whether its embedding is compared by cosine."""

    network: str
    unit_embedding: bool


#: Feature adapter name → :class:`FeatureNetwork`.
FEATURE_NETWORKS: dict[str, FeatureNetwork] = {
    "clip": FeatureNetwork("CLIP image encoder (4M-21: CLIP-B/16)", True),
    "dinov2": FeatureNetwork("DINOv2 (4M-21: DINOv2-B/14)", False),
    "imagebind": FeatureNetwork("ImageBind image encoder (4M-21: ImageBind-H/14)", True),
}


class ExportedProgram:
    """``DIR/model.pt2`` and ``DIR/labeler.json`` of the adapter ``name``: checked, loaded, fed.

    ``layout`` describes the folder for the error a missing or incomplete one raises.
    """

    def __init__(self, name: str, path: Path | None, layout: str, extra: Sequence[str] = ()) -> None:
        if path is None:
            raise ConfigError(f"labeler {name} runs a network you export yourself; give its folder (`omnimask "
                              f"label --labeler-path {name}=DIR`, `omnimask labeler info {name} --path DIR`): "
                              f"{layout}. Nothing is downloaded.")
        missing = [f for f in ("model.pt2", "labeler.json", *extra) if not (path / f).is_file()]
        if missing:
            raise ConfigError(f"labeler {name}: {path} lacks {', '.join(missing)}; it needs {layout}")
        self.settings = json.loads((path / "labeler.json").read_text())
        if not isinstance(self.settings.get("input_size"), int) or self.settings["input_size"] < 1:
            raise ConfigError(f"labeler {name}: {path / 'labeler.json'} needs \"input_size\": S (pixels, an int)")
        self.input_size = int(self.settings["input_size"])
        mean, std = self.settings.get("mean"), self.settings.get("std")
        self.mean = np.asarray(mean, np.float32)[:, None, None] if mean else IMAGENET_MEAN
        self.std = np.asarray(std, np.float32)[:, None, None] if std else IMAGENET_STD
        self.program = torch.export.load(str(path / "model.pt2")).module()
        self.one_at_a_time = False  # set when the program was exported for batch 1 (slower, still right)

    def inputs(self, images: Sequence[np.ndarray]) -> torch.Tensor:
        """B uint8 (H, W, 3) images → (B, 3, S, S) float32, resized (bicubic) and normalised."""
        from PIL import Image

        size = self.input_size
        resized = [np.asarray(Image.fromarray(im).resize((size, size), Image.Resampling.BICUBIC)) for im in images]
        return torch.from_numpy(np.stack([(im.transpose(2, 0, 1) / np.float32(255) - self.mean) / self.std
                                          for im in resized]).astype(np.float32))

    @torch.no_grad()
    def __call__(self, images: Sequence[np.ndarray]) -> Any:
        """The program's output for a batch: a tensor or a tuple of tensors, each (B, ...)."""
        x = self.inputs(images)
        if not self.one_at_a_time:
            try:
                return self.program(x)
            except AssertionError as err:  # a program exported for a fixed batch size: its shape guard fails
                if "Guard failed" not in str(err) or len(x) == 1:
                    raise
                self.one_at_a_time = True
        parts = [self.program(row[None]) for row in x]
        if isinstance(parts[0], torch.Tensor):
            return torch.cat(parts)
        return tuple(torch.cat(column) for column in zip(*parts))


class ExportedNetworkLabeler:
    """Runs ``DIR/model.pt2`` as the photo labeler ``name`` of :data:`LOCAL_NETWORKS` (module docstring)."""

    name: str
    writes: tuple[str, ...]
    standin: bool = False

    def __init__(self, name: str, path: Path | None) -> None:
        spec = LOCAL_NETWORKS[name]
        layout = (f"a folder with model.pt2 (torch.export of {spec.network}: (B, 3, S, S) ImageNet-normalised RGB "
                  f"-> {spec.channels}) and labeler.json {{\"input_size\": S}}")
        self.program = ExportedProgram(name, path, layout)
        self.name, self.writes, self.spec = name, (spec.modality,), spec

    def label(self, crops: Sequence[Crop]) -> Decoded:
        out = self.program([c.detail for c in crops]).float()
        return self.spec.decode(out, crops[0].rgb.shape[0])


class CaptionerLabeler:
    """Runs an exported captioner: (B, 3, S, S) RGB → (B, L) token ids, decoded through ``vocab.json``."""

    name: str = "captioner"
    writes: tuple[str, ...] = ("caption",)
    standin: bool = False

    def __init__(self, path: Path | None) -> None:
        layout = ("a folder with model.pt2 (torch.export of a captioner: (B, 3, S, S) ImageNet-normalised RGB -> "
                  "(B, L) int64 token ids), vocab.json ([\"piece\", ...], id -> text; \"▁\" starts a word) and "
                  "labeler.json {\"input_size\": S, \"eos\": id}")
        self.program = ExportedProgram(self.name, path, layout, extra=("vocab.json",))
        assert path is not None
        self.vocab = json.loads((path / "vocab.json").read_text())
        if not isinstance(self.vocab, list) or not all(isinstance(v, str) for v in self.vocab):
            raise ConfigError(f"labeler captioner: {path / 'vocab.json'} must be a JSON list of strings")
        self.eos = self.program.settings.get("eos")

    def text(self, ids: Sequence[int]) -> str:
        """Token ids → caption: pieces up to the first ``eos``, joined ("▁" → space), trimmed."""
        pieces = []
        for i in ids:
            if i == self.eos:
                break
            if not 0 <= i < len(self.vocab):
                raise ValueError(f"captioner: token id {i} is outside vocab.json ({len(self.vocab)} pieces)")
            pieces.append(self.vocab[i])
        return " ".join("".join(pieces).replace("▁", " ").split())

    def label(self, crops: Sequence[Crop]) -> Decoded:
        ids = self.program([c.detail for c in crops])
        return [{"caption": self.text(row.tolist())} for row in ids.long()]


class ExportedFeatureLabeler:
    """Runs ``DIR/model.pt2`` as the feature labeler ``name`` of :data:`FEATURE_NETWORKS` (module docstring).

    Attributes:
        feature_dim: C of the patch features; embedding_dim: E of the global embedding (both read
            from one probe forward pass when loading).
    """

    def __init__(self, name: str, path: Path | None, batch_size: int = 64) -> None:
        self.spec = FEATURE_NETWORKS[name]
        layout = (f"a folder with model.pt2 (torch.export of {self.spec.network}: (B, 3, S, S) normalised RGB -> "
                  "((B, h*w, C) patch tokens, (B, E) embedding)) and labeler.json {\"input_size\": S, "
                  "\"mean\": [3 floats], \"std\": [3 floats]} (mean / std default to ImageNet's)")
        self.program = ExportedProgram(name, path, layout)
        self.name, self.batch_size, self.layout = name, batch_size, layout
        patches, embedding = self._run([np.zeros((self.program.input_size,) * 2 + (3,), np.uint8)])
        self.feature_dim, self.embedding_dim = patches.shape[-1], embedding.shape[-1]

    def _run(self, images: Sequence[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.program(images)
        if not (isinstance(out, (tuple, list)) and len(out) == 2 and out[0].ndim == 3 and out[1].ndim == 2):
            raise ConfigError(f"labeler {self.name}: model.pt2 must return a tuple ((B, h*w, C) patch tokens, "
                              f"(B, E) embedding), got {type(out).__name__}")
        patches, embedding = out[0].float(), out[1].float()
        side = round(patches.shape[1] ** 0.5)
        if side * side != patches.shape[1]:
            raise ConfigError(f"labeler {self.name}: {patches.shape[1]} patch tokens are not a square grid "
                              "(drop the class token from the program's output)")
        patches = patches.reshape(len(patches), side, side, -1)
        return patches, F.normalize(embedding, dim=-1) if self.spec.unit_embedding else embedding

    def features(self, rgb: np.ndarray | torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """uint8 RGB (B, H, W, 3) -> patch features (B, h, w, C) and embeddings (B, E), float32."""
        images = as_rgb_batch(rgb).numpy()
        outs = [self._run(list(images[i : i + self.batch_size])) for i in range(0, len(images), self.batch_size)]
        return torch.cat([o[0] for o in outs]), torch.cat([o[1] for o in outs])

    def patch_features(self, rgb: np.ndarray | torch.Tensor) -> torch.Tensor:
        """uint8 RGB (B, H, W, 3) -> float32 (B, h, w, C)."""
        return self.features(rgb)[0]

    def global_embedding(self, rgb: np.ndarray | torch.Tensor) -> torch.Tensor:
        """uint8 RGB (B, H, W, 3) -> float32 (B, E)."""
        return self.features(rgb)[1]
