"""Requests → the inference pipeline: parse and check every field, run one job at a time, encode outputs.

Every bad input raises :class:`ServeError` with an HTTP status (413 too large, 422 invalid, 503 busy) and
the dotted path of the field at fault, e.g. ``conditions.rgb``; the app turns it into a JSON error. What
the sampler would refuse (a scheme that does not fit the target, guidance by a condition not given, a
schedule it cannot expand, a sequence longer than its modality) is refused before the model runs. The
model runs one request at a time (a lock; torch already uses every core it is given); at most
``max_jobs`` requests run or wait, one more is refused with 503 and ``Retry-After``.

A plan is a ``preset`` with per-target ``settings``, or a whole ``plan``: what an ``omnimask generate
--plan FILE`` file holds (:func:`~omnimask.generation.plan_io.plan_from_mapping`: ours, released settings
or a flat schedule), checked against the same limits.

Outputs are what ``omnimask generate`` writes: the same PNG bytes (:func:`~omnimask.generation.render.png_bytes`)
for the same conditions, plan and seed, base64-encoded, with the text and the structured value
(boxes, palette, metadata) of sequence modalities. An in-painted target (given with a mask) keeps its
given tokens where the mask keeps them, and its picture is the given picture there (pixel for pixel), the
model's fill elsewhere: the tokenizer's decoder sees every token, so without that the kept part would
shift a little too.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import dataclasses
import io
import json
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError
from pydantic import TypeAdapter, ValidationError

from omnimask.batch import Batch, ModalityBatch
from omnimask.data.synthworld import SynthWorldConfig, render_sample
from omnimask.data.synthworld.writer import MODALITY_FILES, decode, encode
from omnimask.generation import Plan
from omnimask.generation.conditions import inpaint, move_box, replace_class, resize_box, with_metadata
from omnimask.generation.pipeline import Pipeline
from omnimask.generation.plan import Step, describe_plan
from omnimask.generation.plan_io import plan_from_mapping
from omnimask.generation.render import colorize, png_bytes
from omnimask.generation.strategies import AUTOREGRESSIVE, schemes_for
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
    StepSettings,
)
from omnimask.serve.settings import ServeSettings
from omnimask.tokenizers.text.serial.metadata import FOURM_METADATA_FIELDS

#: Scene indices of the retrieval gallery start here (the demo's held-out range, never trained on).
GALLERY_OFFSET = 1_000_000
#: Metadata keys with a bounded value → [low, high] (``GET /model`` gives them; the page draws bars over them).
METADATA_RANGES: dict[str, list[float]] = {
    f.name: [f.vmin, f.vmax] if f.kind == "range" else [min(f.representatives), max(f.representatives)]
    for f in FOURM_METADATA_FIELDS if f.kind in ("range", "thresholds")}
#: Every field of a plan step with its type (and :class:`~omnimask.generation.plan.Step`'s own checks).
STEP_FIELDS = TypeAdapter(Step)
#: What Pillow writes for the in-memory file of an upload.
_IN_MEMORY = re.compile(r"<_io\.BytesIO object at 0x[0-9a-fA-F]+>")


class ServeError(Exception):
    """A request the server refuses: HTTP ``status``, the ``field`` at fault (a dotted path inside ``part``:
    ``body``, ``path`` or ``server``) and why."""

    def __init__(self, status: int, field: str, message: str, part: str = "body") -> None:
        super().__init__(message)
        self.status, self.field, self.message, self.part = status, field, message, part


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def is_ids(value: Any) -> bool:
    """Whether a request value is a non-empty list of token ids (ints)."""
    return isinstance(value, list) and bool(value) and all(type(v) is int for v in value)


def reason(err: Exception, data: bytes = b"") -> str:
    """The message of ``err``, with Pillow's name of an upload's in-memory file replaced by what its bytes
    were, and a missing key said as such."""
    text = f"missing key {err}" if isinstance(err, KeyError) else str(err)
    return _IN_MEMORY.sub(lambda _: f"the {len(data)} bytes given (starting {data[:8]!r})", text)


def validation_message(err: ValidationError) -> tuple[str, str]:
    """The first error of a pydantic validation: (the field it names, or "", its message)."""
    first = err.errors()[0]
    return ".".join(str(p) for p in first["loc"][:1]), first["msg"].removeprefix("Value error, ")


def parse_plan(data: Any, given: Sequence[str], field: str) -> Plan:
    """A plan file's content (:func:`~omnimask.generation.plan_io.plan_from_mapping`), or 422 naming ``field``."""
    try:
        return plan_from_mapping(data, conditions=list(given))
    except (ValueError, TypeError, KeyError, AttributeError) as err:
        raise ServeError(422, field, f"not a usable plan: {reason(err)}") from None


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
                                          f"(max_jobs {self.settings.max_jobs}); retry shortly", part="server")
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
                "ranges": METADATA_RANGES if self.names.get(name) == "metadata" else None,
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
        """A picture upload → (H, W, 3) uint8 RGB, upright."""
        data = self.upload(value, field)
        try:
            return read_image(data, max_pixels=self.settings.max_pixels).rgb
        except ImageError as err:
            raise ServeError(413 if "limit" in str(err) else 422, field,
                             f"unreadable picture: {reason(err, data)}") from None

    def _map(self, name: str, spec: ModalitySpec, value: Any, field: str) -> Any:
        """A base64 PNG of the dataset layout → the (H, W[, C]) map."""
        layout = spec.tokenizer or name
        data = self.upload(value, field)
        try:
            array = decode(layout, data)
        except (UnidentifiedImageError, OSError, ValueError) as err:
            raise ServeError(422, field, f"not a {layout} PNG of the dataset layout ({reason(err, data)})") from None
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

    def condition(self, name: str, value: Any, field: str) -> ModalityBatch:
        """One raw value → its tokens, B = 1; a sequence longer than its modality is refused (413), not cut."""
        spec = self.pipe.specs[name]
        try:
            if spec.is_sequence and not is_ids(value) and name in self.pipe.tokenizers:
                count = len(self.pipe.tokenizers[name].tokenize([value])[0]) + 1  # + [EOS]
                if count > spec.num_tokens:
                    raise ServeError(413, field, f"{self.names.get(name, name)}: {count} tokens (with [EOS]) exceed "
                                                 f"the modality's {spec.num_tokens}; shorten it")
            return self.pipe.condition(name, [value])
        except (ValueError, TypeError, KeyError) as err:
            raise ServeError(422, field, reason(err)) from None

    def tokenize(self, raw: Mapping[str, Any], masks: Mapping[str, str], field: str = "conditions") -> Batch:
        """Raw conditions (+ keep masks) → a generation state."""
        state = {name: self.condition(name, value, f"{field}.{self.names.get(name, name)}")
                 for name, value in raw.items()}
        for key, mask in masks.items():
            field = f"masks.{key}"
            name = self.name(key, field, "input")
            spec = self.pipe.specs[name]
            if name not in state or not spec.image_size:
                raise ServeError(422, field, f"a mask needs {name} among the conditions, and an image-like modality")
            data = self.upload(mask, field)
            try:
                with Image.open(io.BytesIO(data)) as img:
                    keep = np.asarray(img.convert("L").resize(spec.image_size[::-1], Image.Resampling.NEAREST)) > 127
            except (UnidentifiedImageError, OSError) as err:
                raise ServeError(422, field, f"not a readable mask picture ({reason(err, data)})") from None
            state[name] = inpaint(state[name], spec, keep[None])
        return state

    def targets(self, keys: Sequence[str], field: str = "targets") -> list[str]:
        """Request targets → modality names: at least one, at most ``max_targets``, each generable, none twice."""
        if not keys:
            raise ServeError(422, field, "give at least one target (or a plan that names them)")
        if len(keys) > self.settings.max_targets:
            raise ServeError(413, field, f"{len(keys)} targets, over max_targets ({self.settings.max_targets})")
        names = [self.name(t, f"{field}.{i}", "output") for i, t in enumerate(keys)]
        for i, name in enumerate(names):
            if name in names[:i]:
                raise ServeError(422, f"{field}.{i}", f"{name} is a target twice; a plan generates each target once")
        return names

    def guides(self, target: str, names: Sequence[str], available: Sequence[str], field: str) -> None:
        """Refuse guidance of ``target`` by modalities that are not ``available`` (given or generated before)."""
        stray = [n for n in names if n not in available or n == target]
        if stray:
            raise ServeError(422, field, f"{target} cannot be guided by {stray}: guidance drops given conditions or "
                                         f"targets generated before it, here {list(available)}")

    def plan(self, given: Sequence[str], request: GenerateRequest) -> tuple[list[str], Plan]:
        """The targets and plan of a request over the ``given`` modalities: its ``plan``, or its ``preset``
        with per-target ``settings``, checked (:meth:`check_plan`)."""
        the_plan, fields = (self.preset_plan(given, request) if request.plan is None
                            else self.request_plan(given, request))
        self.check_plan(the_plan, fields)
        return the_plan.targets, the_plan

    def preset_plan(self, given: Sequence[str], request: GenerateRequest) -> tuple[Plan, list[str]]:
        """``preset`` + ``settings`` → the plan and each step's field (its settings, or its target)."""
        targets = self.targets(request.targets)
        conditions = [g for g in given if g not in targets]  # a partly given target is in-painted, not a guide
        per_target: dict[str, dict[str, Any]] = {}
        keys: dict[str, str] = {}
        for key, step in request.settings.items():
            name = self.name(key, f"settings.{key}", "output")
            if name not in targets:
                raise ServeError(422, f"settings.{key}", f"{name} is not among the targets {targets}")
            per_target[name], keys[name] = step.model_dump(exclude_none=True), key
            if step.guidance_conditions is not None:
                field = f"settings.{key}.guidance_conditions"
                guides = tuple(self.name(c, field, "input") for c in step.guidance_conditions)
                self.guides(name, guides, [*conditions, *targets[: targets.index(name)]], field)
                per_target[name]["guidance_conditions"] = guides
        try:
            the_plan = self.pipe.plan(conditions, targets, preset=request.preset, per_target=per_target)
        except (ValueError, TypeError) as err:
            raise ServeError(422, "settings", str(err)) from None
        return the_plan, [f"settings.{keys[t]}" if t in keys else f"targets.{i}" for i, t in enumerate(targets)]

    def request_plan(self, given: Sequence[str], request: GenerateRequest) -> tuple[Plan, list[str]]:
        """``plan`` (a plan file's content) → the plan over this model's names and each step's field
        (``plan.steps.<i>`` in our format, ``plan`` in the released ones)."""
        for key in ("preset", "settings"):
            if key in request.model_fields_set:
                raise ServeError(422, key, f"give either a plan or preset + settings, not both; with a plan, {key} "
                                           "goes into its steps")
        data = request.plan
        entries = data.get("steps") if isinstance(data, Mapping) else None
        fields = [f"plan.steps.{i}" for i in range(len(entries))] if isinstance(entries, list) else []
        for entry, field in zip(entries or [], fields):  # each step alone first, to name the one at fault
            self.plan_step(entry, field)
            parse_plan({"steps": [entry]}, given, field)
        parsed = parse_plan(data, given, "plan")
        fields = fields or ["plan"] * len(parsed.steps)
        if len(parsed.steps) > self.settings.max_targets:
            raise ServeError(413, "plan", f"{len(parsed.steps)} steps, over max_targets ({self.settings.max_targets})")
        steps = [self.plan_step(dataclasses.asdict(s), f) for s, f in zip(parsed.steps, fields)]
        stray = [c for c in (self.name(c, "plan.conditions", "input") for c in parsed.conditions) if c not in given]
        if stray:
            raise ServeError(422, "plan.conditions", f"the plan expects {stray}, which the conditions lack "
                                                     f"(given: {list(given)})")
        targets = [s.target for s in steps]
        if request.targets and self.targets(request.targets) != targets:
            raise ServeError(422, "targets", f"targets {request.targets} differ from the plan's {targets}; leave "
                                             "targets out or make them agree")
        try:
            the_plan = Plan(tuple(steps), tuple(g for g in given if g not in targets), parsed.name)
        except ValueError as err:
            raise ServeError(422, "plan", str(err)) from None
        return the_plan, fields

    def plan_step(self, entry: Any, field: str) -> Step:
        """One step of a request's plan (a mapping of :class:`~omnimask.generation.plan.Step` fields), its
        types and the bounds ``settings`` have checked, with this model's modality names."""
        try:
            step = STEP_FIELDS.validate_python(entry)
        except ValidationError as err:
            key, message = validation_message(err)
            raise ServeError(422, f"{field}.{key}" if key else field, message) from None
        weights = step.guidance_scale if isinstance(step.guidance_scale, tuple) else (step.guidance_scale,)
        for key, value in (("temperature", step.temperature), *(("guidance_scale", w) for w in weights)):
            try:
                StepSettings.model_validate({key: value})
            except ValidationError as err:
                raise ServeError(422, f"{field}.{key}", validation_message(err)[1]) from None
        target = self.name(step.target, f"{field}.target", "output")
        guides = tuple(self.name(c, f"{field}.guidance_conditions", "input") for c in step.guidance_conditions)
        return step.replace(target=target, guidance_conditions=guides)

    def check_plan(self, the_plan: Plan, fields: Sequence[str]) -> None:
        """Refuse a plan the sampler cannot run or that is over the limits, naming the field of each step:
        a scheme that does not fit the target's kind, guidance by what is not given, more than ``max_steps``
        iterations, a placeholder longer than the modality, a schedule that does not expand."""
        available = list(the_plan.conditions)
        for step, field in zip(the_plan.steps, fields):
            spec = self.pipe.specs[step.target]
            fits = schemes_for(spec)
            if step.scheme not in fits:
                raise ServeError(422, f"{field}.scheme", f"{step.target}: scheme {step.scheme!r} does not fit a "
                                                         f"{spec.kind} target; use one of {list(fits)}")
            self.guides(step.target, step.guidance_conditions, available, f"{field}.guidance_conditions")
            if step.scheme != AUTOREGRESSIVE:
                explicit = isinstance(step.token_schedule, tuple)
                count = len(step.token_schedule) if explicit else step.num_steps
                if count > self.settings.max_steps:
                    raise ServeError(413, f"{field}.{'token_schedule' if explicit else 'num_steps'}",
                                     f"{count} steps, over max_steps ({self.settings.max_steps})")
            low = 3 if spec.is_sequence else 1  # a sequence placeholder: position 0, a token, [EOS]
            if step.num_tokens is not None and not low <= step.num_tokens <= spec.num_tokens:
                raise ServeError(422, f"{field}.num_tokens", f"{step.target} takes num_tokens {low} .. "
                                                             f"{spec.num_tokens}, got {step.num_tokens}")
            try:
                step.iterations(spec.num_tokens)
            except ValueError as err:
                raise ServeError(422, field, str(err)) from None
            available.append(step.target)

    # -- endpoints --------------------------------------------------------------------------
    def kept(self, name: str, value: Any, mb: ModalityBatch) -> tuple[np.ndarray, np.ndarray]:
        """A partly given map target: its given ``value`` as an (H, W, 3) picture drawn like the outputs, and
        the (H, W) bool pixels of the tokens ``mb`` keeps."""
        grid = self.pipe.specs[name].grid
        assert grid is not None, "only image-like modalities take masks (Engine.tokenize)"
        picture, cells = colorize(value), mb.input_keep[0].reshape(grid).cpu().numpy()
        block = np.ones((picture.shape[0] // grid[0], picture.shape[1] // grid[1]), np.bool_)
        return picture, np.kron(cells, block).astype(np.bool_)

    def outputs(self, state: Batch, names: Sequence[str],
                kept: Mapping[str, tuple[np.ndarray, np.ndarray]] | None = None) -> dict[str, Output]:
        """Generated modalities → outputs (picture, text, value); ``kept`` (from :meth:`kept`) pastes the
        given picture of in-painted targets where their tokens were kept."""
        decoded = self.pipe.decode(state, list(names))
        out = {}
        for name in names:
            d, given = decoded[name], (kept or {}).get(name)
            picture = d.picture
            if picture is not None and given is not None and given[0].shape == picture.shape:
                picture = np.where(given[1][..., None], given[0], picture)
            value = d.value if isinstance(d.value, (list, dict, str, int, float)) else None
            value = json.loads(json.dumps(value, default=float)) if value is not None else None
            out[self.names.get(name, name)] = Output(
                modality=name, png=b64(png_bytes(picture)) if picture is not None else None, text=d.text,
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
        kept = {name: self.kept(name, raw[name], state[name]) for name in targets if name in state}
        with self.job():
            start = time.perf_counter()
            result = self.pipe.generate(state, the_plan, seed=request.seed)
            seconds = time.perf_counter() - start
            outputs = self.outputs(result.state, targets, kept)
        return GenerateResponse(outputs=outputs, plan=describe_plan(the_plan), seed=request.seed,
                                seconds=round(seconds, 4))

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
                self.condition(name, raw[name], f"{field}.values")  # an unknown key is this edit's fault
        response = self.generate(request, raw)
        response.conditions = {self.names.get(n, n): v for n, v in raw.items() if isinstance(v, (list, dict))}
        return response

    def scene(self, index: int) -> dict[str, Any]:
        """``GET /scene/{index}``: held-out SynthWorld scene ``index`` of the gallery world, as conditions
        (layout PNGs, caption, boxes, metadata) plus pictures of its maps to show."""
        if not 0 <= index < 1_000_000:
            raise ServeError(422, "index", "a scene index is 0 .. 999999", part="path")
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
            self._gallery = (scenes, self.embed(self.pipe.conditions({rgb: [s["rgb"] for s in scenes]})))
        return self._gallery

    def global_name(self) -> str:
        name = self.pipe.roles.get("global")
        if name is None or not self.pipe.can_write(name):
            raise ServeError(422, "query", "this model predicts no global embedding; retrieval needs one")
        return name

    def embed(self, state: Batch) -> np.ndarray:
        """(B, E) unit global embeddings the model predicts from a state of B samples."""
        target = self.global_name()
        the_plan = self.pipe.plan(list(state), [target], preset="fast")
        result = self.pipe.generate(state, the_plan, seed=0)
        rows = [np.asarray(self.pipe.decode(result.state, [target], sample=i)[target].value, np.float64).ravel()
                for i in range(next(iter(state.values())).batch_size)]
        vectors = np.stack(rows)
        return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)

    def retrieve(self, request: RetrieveRequest) -> RetrieveResponse:
        """``POST /retrieve``: gallery scenes ranked by cosine similarity to the query's predicted embedding."""
        if request.top_k > min(self.settings.max_top_k, self.settings.gallery):
            raise ServeError(422, "top_k", f"top_k must be <= {min(self.settings.max_top_k, self.settings.gallery)}")
        self.global_name()
        state = self.tokenize(self.raw_conditions(request.query, "query"), {}, "query")
        with self.job():
            start = time.perf_counter()
            scenes, keys = self.gallery()
            query = self.embed(state)[0]
            seconds = time.perf_counter() - start
        sims = keys @ query
        order = np.argsort(-sims, kind="stable")[: request.top_k]
        return RetrieveResponse(hits=[Hit(scene=int(k), similarity=float(sims[k]), png=b64(png_bytes(scenes[k]["rgb"])))
                                      for k in order], gallery=len(scenes), seconds=round(seconds, 4))
