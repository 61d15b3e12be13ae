"""Request and response bodies of the API (pydantic models: FastAPI validates them and documents them at /docs).

Conditions are a JSON object, modality (a short name such as ``rgb``, ``depth``, ``caption``, or the
model's full name) → value:

* ``rgb``: a picture, base64 (JPEG / PNG / WebP …, optionally as a ``data:image/...;base64,`` URL); it is
  read like ``omnimask label`` reads photos (EXIF orientation, any mode) and center-cropped;
* maps (``depth``, ``normal``, ``semseg``, ``edges`` …): base64 PNG in the dataset layout of
  ``omnimask synth`` (16-bit depth in 1/1000 m, normals as RGB, class ids as grey levels, edges as white);
* ``caption``: text; ``det``: ``[{"class": "cube", "box": [x0, y0, x1, y1]}, ...]`` with coordinates in
  [0, 1]; ``metadata``: ``{"brightness": 120.0, ...}``; ``color_palette``: ``{"colors": [[r, g, b], ...]}``.
  A sequence longer than its modality holds (a caption of 48 tokens on the shipped model) is refused, not cut.

``masks`` makes a given map or RGB partial (4M's in-painting): modality → base64 PNG, white where the
given value is kept, black where the model fills in. A token is kept when every pixel of its patch is
white; the answer keeps those tokens, and its picture is the given picture there, pixel for pixel (an
answer's ``png`` given back with a new mask goes on from it), and the model's fill elsewhere.

``plan`` replaces ``preset`` and ``settings`` with a whole plan: what an ``omnimask generate --plan FILE``
file holds (our ``{"steps": [{"target": ..., <Step fields>}, ...]}``, a released generation-settings
mapping, or a flat schedule list), the same bytes as that command for the same seed.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Seed = Annotated[int, Field(ge=0, le=2**31 - 1, description="generation seed: the same seed gives the same bytes")]


class StepSettings(BaseModel):
    """Overrides of one target's decoding (unset fields keep the preset's)."""

    model_config = ConfigDict(extra="forbid")

    scheme: Literal["roar", "maskgit", "autoregressive"] | None = None
    num_steps: int | None = Field(None, ge=1)
    temperature: float | None = Field(None, ge=0.0, le=100.0)
    guidance_scale: float | None = Field(None, ge=-20.0, le=20.0,
                                         description="classifier-free guidance weight (negative steers away)")
    guidance_conditions: list[str] | None = None


class GenerateRequest(BaseModel):
    """Generate ``targets`` from ``conditions`` (see the module docstring for the value formats)."""

    model_config = ConfigDict(extra="forbid")

    conditions: dict[str, Any] = Field(..., description="modality -> value")
    targets: list[str] = Field(default_factory=list, description="modalities to generate, in chained order "
                               "(at least one; with a plan they may be left out, else they must be its targets)")
    masks: dict[str, str] = Field(default_factory=dict, description="modality -> base64 PNG keep mask")
    preset: Literal["fast", "quality"] = "fast"
    settings: dict[str, StepSettings] = Field(default_factory=dict, description="target -> decoding overrides")
    plan: dict[str, Any] | list[dict[str, Any]] | None = Field(
        None, description="a whole plan, as a plan file holds it (instead of preset and settings)")
    seed: Seed = 0


class MoveBox(BaseModel):
    op: Literal["move_box"]
    index: int = Field(..., ge=0, description="which box of conditions.det")
    dx: float = Field(0.0, ge=-1.0, le=1.0)
    dy: float = Field(0.0, ge=-1.0, le=1.0)


class ResizeBox(BaseModel):
    op: Literal["resize_box"]
    index: int = Field(..., ge=0)
    factor: float = Field(..., gt=0.0, le=10.0)


class ReplaceClass(BaseModel):
    op: Literal["replace_class"]
    old: int = Field(..., ge=0, le=255, description="class id in conditions.semseg")
    new: int = Field(..., ge=0, le=255)


class SetMetadata(BaseModel):
    op: Literal["set_metadata"]
    values: dict[str, float] = Field(..., min_length=1)


Edit = Annotated[MoveBox | ResizeBox | ReplaceClass | SetMetadata, Field(discriminator="op")]


class EditRequest(GenerateRequest):
    """A generation whose conditions are edited first (4M's editing: move a box, repaint a class, steer by
    metadata); the response also returns the edited conditions."""

    edits: list[Edit] = Field(..., min_length=1)


class RetrieveRequest(BaseModel):
    """Rank the gallery by the global embedding the model predicts from ``query`` (any modality subset).

    The embedding is predicted greedily (the ``fast`` plan), so a query always gives the same ranking:
    there is no seed to pass."""

    model_config = ConfigDict(extra="forbid")

    query: dict[str, Any] = Field(..., min_length=1, description="modality -> value, as in conditions")
    top_k: int = Field(5, ge=1)


class Output(BaseModel):
    """One generated modality: a picture (base64 PNG), its text, and its structured value where it has one."""

    modality: str
    png: str | None = None
    text: str | None = None
    value: Any = None


class GenerateResponse(BaseModel):
    outputs: dict[str, Output]
    plan: str
    seed: int
    seconds: float
    conditions: dict[str, Any] = Field(default_factory=dict, description="the conditions used (edited ones)")


class Hit(BaseModel):
    scene: int
    similarity: float
    png: str


class RetrieveResponse(BaseModel):
    hits: list[Hit]
    gallery: int
    seconds: float
