"""Requests → the inference pipeline: parse and check every field, run one job at a time, encode outputs.

Every bad input raises :class:`ServeError` with an HTTP status (413 too large, 422 invalid, 503 busy) and
the dotted path of the field at fault, e.g. ``conditions.rgb``; the app turns it into a JSON error. The
model runs one request at a time (a lock; torch already uses every core it is given); at most
``max_jobs`` requests run or wait, one more is refused with 503 and ``Retry-After``.

Outputs are what ``omnimask generate`` writes: the same PNG bytes (:func:`~omnimask.generation.render.png_bytes`)
for the same conditions, plan and seed, base64-encoded, with the text and the structured value
(boxes, palette, metadata) of sequence modalities.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import io
import json
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from omnimask.batch import Batch
from omnimask.data.synthworld import SynthWorldConfig, render_sample
from omnimask.data.synthworld.writer import MODALITY_FILES, decode, encode
from omnimask.generation import Plan
from omnimask.generation.conditions import inpaint, move_box, replace_class, resize_box, with_metadata
from omnimask.generation.pipeline import Pipeline
from omnimask.generation.plan import describe_plan
from omnimask.generation.render import colorize, png_bytes
from omnimask.images import ImageError, read_image
from omnimask.modalities import ModalitySpec
from omnimask.serve.schemas import (
    EditRequest,
    GenerateRequest,
    GenerateResponse,
    Hit,
    MoveBox,
    Output,
    ReplaceClass,
    ResizeBox,
    RetrieveRequest,
    RetrieveResponse,
    SetMetadata,
)
from omnimask.serve.settings import ServeSettings

#: Scene indices of the retrieval gallery start here (the demo's held-out range, never trained on).
GALLERY_OFFSET = 1_000_000


class ServeError(Exception):
    """A request the server refuses: HTTP ``status``, the ``field`` at fault (dotted path) and why."""

    def __init__(self, status: int, field: str, message: str) -> None:
        super().__init__(message)
        self.status, self.field, self.message = status, field, message


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


class Engine:
    """A loaded model served to requests (see the module docstring).

    Args:
        pipeline: the model, its tokenizers and the sampler.
        settings: the limits.
    """

    def __init__(self, pipeline: Pipeline, settings: ServeSettings | None = None) -> None:
        self.pipe = pipeline
        self.settings = settings or ServeSettings()
        self.names = {name: role for role, name in pipeline.roles.items()}  # modality -> role
        self._model = threading.Lock()
        self._count = threading.Lock()
        self._jobs = 0
        self._gallery: tuple[list[dict], np.ndarray] | None = None

    @classmethod
    def load(cls, path: str | Path | None = None, settings: ServeSettings | None = None,
             precision: str = "auto") -> Engine:
        """The model folder ``path`` (default: the shipped model) with its tokenizers."""
        return cls(Pipeline.load(path, precision=precision), settings)

    @property
    def resolution(self) -> int:
        pixels = [s for s in self.pipe.specs.values() if s.is_pixels and s.image_size]
        return pixels[0].image_size[0] if pixels else 64  # type: ignore[index]

    # -- jobs -------------------------------------------------------------------------------
    @contextlib.contextmanager
    def job(self) -> Iterator[None]:
        """Hold the model for one request (waiting in line); 503 when ``max_jobs`` already run or wait."""
        with self._count:
            if self._jobs >= self.settings.max_jobs:
                raise ServeError(503, "", f"busy: {self._jobs} requests are running or waiting "
                                          f"(max_jobs {self.settings.max_jobs}); retry shortly")
            self._jobs += 1
        try:
            with self._model:
                yield
        finally:
            with self._count:
                self._jobs -= 1

    # -- the model --------------------------------------------------------------------------
    def info(self) -> dict[str, Any]:
        """What ``GET /model`` returns: the model's modalities, their roles, tokenizers and sizes."""
        model = self.pipe.model
        rows = []
        for name, spec in self.pipe.specs.items():
            rows.append({
                "name": name, "role": self.names.get(name), "kind": spec.kind, "tokens": spec.num_tokens,
                "vocab_size": spec.vocab_size if spec.is_discrete else None,
                "image_size": list(spec.image_size) if spec.image_size else None,
                "input": self.pipe.can_read(name), "output": self.pipe.can_write(name),
                "tokenizer": name in self.pipe.tokenizers,
            })
        return {"path": str(self.pipe.path), "parameters": sum(p.numel() for p in model.parameters()),
                "resolution": self.resolution, "modalities": rows,
                "limits": {k: v for k, v in vars(self.settings).items()}}

    def name(self, key: str, field: str, side: str) -> str:
        """The model's modality for a request key (short or full name), usable on ``side``."""
        try:
            name = self.pipe.resolve(key)
        except ValueError as err:
            raise ServeError(422, field, str(err)) from None
        usable = self.pipe.can_read(name) if side == "input" else self.pipe.can_write(name)
        if not usable:
            what = "given (an input with a tokenizer)" if side == "input" else "generated (an output with a tokenizer)"
            raise ServeError(422, field, f"{name} cannot be {what} by this model; GET /model lists what can")
        return name

    # -- values -----------------------------------------------------------------------------
    def upload(self, value: Any, field: str) -> bytes:
        """The bytes of a base64 (or ``data:`` URL) upload, within ``max_upload_bytes``."""
        if not isinstance(value, str):
            raise ServeError(422, field, f"expected a base64 string, got {type(value).__name__}")
        text = value.partition(",")[2] if value.startswith("data:") else value
        if len(text) * 3 // 4 > self.settings.max_upload_bytes:
            raise ServeError(413, field, f"the upload is over max_upload_bytes ({self.settings.max_upload_bytes})")
        try:
            data = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise ServeError(422, field, "not valid base64") from None
        if not data:
            raise ServeError(422, field, "empty upload (0 bytes)")
        return data

    def _picture(self, name: str, spec: ModalitySpec, value: Any, field: str) -> Any:
        try:
            return read_image(self.upload(value, field), max_pixels=self.settings.max_pixels).rgb
        except ImageError as err:
            raise ServeError(413 if "limit" in str(err) else 422, field, f"unreadable picture: {err}") from None

    def _map(self, name: str, spec: ModalitySpec, value: Any, field: str) -> Any:
        layout = spec.tokenizer or name
        try:
            array = decode(layout, self.upload(value, field))
        except (UnidentifiedImageError, OSError, ValueError) as err:
            raise ServeError(422, field, f"not a {layout} PNG of the dataset layout ({err})") from None
        if tuple(array.shape[:2]) != tuple(spec.image_size or ()):
            raise ServeError(422, field, f"{layout} map is {array.shape[1]}x{array.shape[0]}, this model takes "
                                         f"{spec.image_size[1]}x{spec.image_size[0]}")  # type: ignore[index]
        return array

    def _text(self, name: str, spec: ModalitySpec, value: Any, field: str) -> Any:
        if not isinstance(value, str) or not value.strip():
            raise ServeError(422, field, "expected non-empty text")
        if len(value) > self.settings.max_text_chars:
            raise ServeError(413, field, f"text over max_text_chars ({self.settings.max_text_chars})")
        return value

    def _boxes(self, name: str, spec: ModalitySpec, value: Any, field: str) -> Any:
        if not isinstance(value, list):
            raise ServeError(422, field, 'expected a list of {"class": str, "box": [x0, y0, x1, y1]}')
        if len(value) > self.settings.max_boxes:
            raise ServeError(413, field, f"{len(value)} boxes, over max_boxes ({self.settings.max_boxes})")
        for i, item in enumerate(value):
            box = item.get("box") if isinstance(item, dict) else None
            ok = (isinstance(item, dict) and isinstance(item.get("class"), str) and isinstance(box, list)
                  and len(box) == 4 and all(isinstance(v, (int, float)) and 0.0 <= v <= 1.0 for v in box))
            if not ok or box[0] >= box[2] or box[1] >= box[3]:  # type: ignore[index]
                raise ServeError(422, f"{field}.{i}", 'a box is {"class": str, "box": [x0, y0, x1, y1]}, '
                                                       "0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1")
        return value

    def _json(self, name: str, spec: ModalitySpec, value: Any, field: str) -> Any:
        if not isinstance(value, (dict, list)):
            raise ServeError(422, field, f"expected a JSON object or list for {name}, got {type(value).__name__}")
        return value

    def kind(self, name: str) -> Callable[[str, ModalitySpec, Any, str], Any]:
        """The parser of a modality's request values (see :mod:`omnimask.serve.schemas`)."""
        spec = self.pipe.specs[name]
        if spec.is_pixels:
            return self._picture
        if spec.is_grid and MODALITY_FILES.get(spec.tokenizer or "") == "png":
            return self._map
        return {"caption": self._text, "det": self._boxes}.get(self.names.get(name, ""), self._json)

    def raw_conditions(self, given: Mapping[str, Any], field: str = "conditions") -> dict[str, Any]:
        """Request conditions → modality name → raw value (checked)."""
        if not given:
            raise ServeError(422, field, "give at least one condition")
        raw = {}
        for key, value in given.items():
            name = self.name(key, f"{field}.{key}", "input")
            raw[name] = self.kind(name)(name, self.pipe.specs[name], value, f"{field}.{key}")
        return raw

    def tokenize(self, raw: Mapping[str, Any], masks: Mapping[str, str]) -> Batch:
        """Raw conditions (+ keep masks) → a generation state."""
        state = {}
        for name, value in raw.items():
            try:
                state[name] = self.pipe.condition(name, [value], truncate=True)
            except (ValueError, TypeError, KeyError) as err:
                raise ServeError(422, f"conditions.{self.names.get(name, name)}", str(err)) from None
        for key, mask in masks.items():
            field = f"masks.{key}"
            name = self.name(key, field, "input")
            spec = self.pipe.specs[name]
            if name not in state or not spec.image_size:
                raise ServeError(422, field, f"a mask needs {name} among the conditions, and an image-like modality")
            try:
                with Image.open(io.BytesIO(self.upload(mask, field))) as img:
                    keep = np.asarray(img.convert("L").resize(spec.image_size[::-1], Image.Resampling.NEAREST)) > 127
            except (UnidentifiedImageError, OSError) as err:
                raise ServeError(422, field, f"not a readable mask picture ({err})") from None
            state[name] = inpaint(state[name], spec, keep[None])
        return state

    def plan(self, given: Sequence[str], request: GenerateRequest) -> tuple[list[str], Plan]:
        if len(request.targets) > self.settings.max_targets:
            raise ServeError(413, "targets", f"{len(request.targets)} targets, over max_targets "
                                             f"({self.settings.max_targets})")
        targets = [self.name(t, f"targets.{i}", "output") for i, t in enumerate(request.targets)]
        per_target = {}
        for key, step in request.settings.items():
            name = self.name(key, f"settings.{key}", "output")
            if name not in targets:
                raise ServeError(422, f"settings.{key}", f"{name} is not among the targets {targets}")
            per_target[name] = step.model_dump(exclude_none=True)
            if "guidance_conditions" in per_target[name]:
                per_target[name]["guidance_conditions"] = tuple(
                    self.name(c, f"settings.{key}.guidance_conditions", "input")
                    for c in per_target[name]["guidance_conditions"])
        try:
            conditions = [g for g in given if g not in targets]  # a partly given target is in-painted, not a guide
            the_plan = self.pipe.plan(conditions, targets, preset=request.preset, per_target=per_target)
        except (ValueError, TypeError) as err:
            raise ServeError(422, "settings", str(err)) from None
        for planned in the_plan.steps:
            if planned.num_steps is not None and planned.num_steps > self.settings.max_steps:
                raise ServeError(413, f"settings.{self.names.get(planned.target, planned.target)}.num_steps",
                                 f"{planned.num_steps} steps, over max_steps ({self.settings.max_steps})")
        return targets, the_plan

    # -- endpoints --------------------------------------------------------------------------
    def outputs(self, state: Batch, names: Sequence[str]) -> dict[str, Output]:
        decoded = self.pipe.decode(state, list(names))
        out = {}
        for name in names:
            d = decoded[name]
            value = d.value if isinstance(d.value, (list, dict, str, int, float)) else None
            value = json.loads(json.dumps(value, default=float)) if value is not None else None
            out[self.names.get(name, name)] = Output(
                modality=name, png=b64(png_bytes(d.picture)) if d.picture is not None else None, text=d.text,
                value=value)
        return out

    def generate(self, request: GenerateRequest, raw: dict[str, Any] | None = None) -> GenerateResponse:
        """``POST /generate`` (``raw``: conditions already parsed, e.g. edited)."""
        raw = self.raw_conditions(request.conditions) if raw is None else raw
        state = self.tokenize(raw, request.masks)
        targets, the_plan = self.plan(list(raw), request)
        for i, name in enumerate(targets):
            if name in state and bool(state[name].input_keep.all()):
                raise ServeError(422, f"targets.{i}", f"{name} is given whole, so there is nothing to generate; "
                                                      f"give masks.{self.names.get(name, name)} to in-paint part of it")
        with self.job():
            start = time.perf_counter()
            result = self.pipe.generate(state, the_plan, seed=request.seed)
            seconds = time.perf_counter() - start
        return GenerateResponse(outputs=self.outputs(result.state, targets), plan=describe_plan(the_plan),
                                seed=request.seed, seconds=round(seconds, 4))

    def edit(self, request: EditRequest) -> GenerateResponse:
        """``POST /edit``: apply ``edits`` to the conditions in order, then generate from the edited ones."""
        raw = self.raw_conditions(request.conditions)
        by_role = {self.names.get(n, n): n for n in raw}
        for i, edit in enumerate(request.edits):
            field = f"edits.{i}"
            if isinstance(edit, (MoveBox, ResizeBox)):
                name = by_role.get("det")
                if name is None or edit.index >= len(raw[name]):
                    raise ServeError(422, f"{field}.index", f"no box {edit.index} in conditions.det")
                raw[name] = (move_box(raw[name], edit.index, edit.dx, edit.dy) if isinstance(edit, MoveBox)
                             else resize_box(raw[name], edit.index, edit.factor))
            elif isinstance(edit, ReplaceClass):
                name = by_role.get("semseg")
                if name is None:
                    raise ServeError(422, field, "replace_class needs conditions.semseg")
                raw[name] = replace_class(raw[name], edit.old, edit.new)
            elif isinstance(edit, SetMetadata):
                name = by_role.get("metadata") or self.name("metadata", field, "input")
                raw[name] = with_metadata({"metadata": raw.get(name)}, **edit.values)["metadata"]
        response = self.generate(request, raw)
        response.conditions = {self.names.get(n, n): v for n, v in raw.items() if isinstance(v, (list, dict))}
        return response

    def scene(self, index: int) -> dict[str, Any]:
        """``GET /scene/{index}``: held-out SynthWorld scene ``index`` of the gallery world, as conditions
        (layout PNGs, caption, boxes, metadata) plus pictures of its maps to show."""
        if not 0 <= index < 1_000_000:
            raise ServeError(422, "index", "a scene index is 0 .. 999999")
        world = SynthWorldConfig(resolution=self.resolution)
        sample = render_sample(self.settings.gallery_seed, GALLERY_OFFSET + index, world)
        boxes = [{"class": d["class"], "box": [float(v) for v in d["box"]]} for d in sample["det"]]
        out: dict[str, Any] = {"index": index, "caption": sample["caption"], "metadata": sample["metadata"],
                               "det": boxes}
        for key in ("rgb", "depth", "normal", "semseg", "edges"):
            out[key] = b64(encode(key, sample[key]))
            out[f"{key}_picture"] = b64(png_bytes(colorize(sample[key]) if key != "rgb" else sample[key]))
        return out

    def gallery(self) -> tuple[list[dict], np.ndarray]:
        """The retrieval index: held-out scenes and the unit global embeddings predicted from their RGB."""
        if self._gallery is None:
            world = SynthWorldConfig(resolution=self.resolution)
            scenes = [render_sample(self.settings.gallery_seed, GALLERY_OFFSET + i, world)
                      for i in range(self.settings.gallery)]
            rgb = self.name("rgb", "query", "input")
            self._gallery = (scenes, self.embed({rgb: [s["rgb"] for s in scenes]}))
        return self._gallery

    def global_name(self) -> str:
        name = self.pipe.roles.get("global")
        if name is None or not self.pipe.can_write(name):
            raise ServeError(422, "query", "this model predicts no global embedding; retrieval needs one")
        return name

    def embed(self, raw: Mapping[str, Sequence[Any]]) -> np.ndarray:
        """(B, E) unit global embeddings the model predicts from B raw samples of some modalities."""
        target = self.global_name()
        state = {n: self.pipe.condition(n, list(v), truncate=True) for n, v in raw.items()}
        the_plan = self.pipe.plan(list(raw), [target], preset="fast")
        result = self.pipe.generate(state, the_plan, seed=0)
        rows = [np.asarray(self.pipe.decode(result.state, [target], sample=i)[target].value, np.float64).ravel()
                for i in range(len(next(iter(raw.values()))))]
        vectors = np.stack(rows)
        return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)

    def retrieve(self, request: RetrieveRequest) -> RetrieveResponse:
        """``POST /retrieve``: gallery scenes ranked by cosine similarity to the query's predicted embedding."""
        if request.top_k > min(self.settings.max_top_k, self.settings.gallery):
            raise ServeError(422, "top_k", f"top_k must be <= {min(self.settings.max_top_k, self.settings.gallery)}")
        self.global_name()
        raw = self.raw_conditions(request.query, "query")
        with self.job():
            start = time.perf_counter()
            scenes, keys = self.gallery()
            query = self.embed({n: [v] for n, v in raw.items()})[0]
            seconds = time.perf_counter() - start
        sims = keys @ query
        order = np.argsort(-sims, kind="stable")[: request.top_k]
        return RetrieveResponse(hits=[Hit(scene=int(k), similarity=float(sims[k]), png=b64(png_bytes(scenes[k]["rgb"])))
                                      for k in order], gallery=len(scenes), seconds=round(seconds, 4))
