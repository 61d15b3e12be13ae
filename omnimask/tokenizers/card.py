"""Tokenizer cards: everything a user needs to feed a tokenizer and read its output, stored with it.

Every omnimask tokenizer checkpoint is a directory with ``model.safetensors`` and a ``config.json``
holding a :class:`TokenizerCard`: the modality, the architecture (to rebuild the model), the raw
input format (layout, dtype, channels, value range), the input normalisation (scale, mean/std, 4M's
robust per-image depth normalisation, or a fixed-range log-depth mapping that keeps metres
recoverable), the token grid, codebook size and the decoding defaults.

The card also does the work it describes: :meth:`TokenizerCard.check` rejects raw inputs of the
wrong shape, dtype or range with an error that says what was expected, :meth:`TokenizerCard.normalize`
turns a raw batch into model input, and :meth:`TokenizerCard.denormalize` turns decoder output back
into the raw format (uint8 RGB, class ids, ...).
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from omnimask.config import from_dict, to_dict
from omnimask.files import CONFIG_NAME, write_text

Layout = Literal["image", "map", "labels", "vector"]
Normalization = Literal["identity", "mean_std", "depth_robust", "depth_log"]
Output = Literal["values", "probabilities", "binary", "class_logits"]
TokenizerKind = Literal["vqvae", "divae", "mlp_vqvae"]



class TokenizerInputError(ValueError):
    """A raw input that does not match the tokenizer's card (shape, dtype or value range)."""


def log_depth(depth: torch.Tensor, depth_range: tuple[float, float]) -> torch.Tensor:
    """Metres (any shape; ≤ 0 = no surface) → log-depth scaled to [0, 1] over ``depth_range``.

    Depths are clipped to the range first; pixels without a surface map to 1 (as far as it gets).
    """
    lo, hi = math.log(depth_range[0]), math.log(depth_range[1])
    d = depth.float()
    far = torch.full_like(d, depth_range[1])
    d = torch.where(d > 0, d.clamp(depth_range[0], depth_range[1]), far)
    return (d.log() - lo) / (hi - lo)


def exp_depth(values: torch.Tensor, depth_range: tuple[float, float]) -> torch.Tensor:
    """Inverse of :func:`log_depth`: [0, 1] (clamped) → metres in ``depth_range``."""
    lo, hi = math.log(depth_range[0]), math.log(depth_range[1])
    return (values.float().clamp(0, 1) * (hi - lo) + lo).exp()


def as_batch(raw: torch.Tensor | np.ndarray | Sequence[np.ndarray] | Any) -> Any:
    """A raw batch as a tensor: tensors as they are, numpy arrays (and lists of per-sample arrays,
    stacked) converted without copying where possible; anything else is returned unchanged."""
    if isinstance(raw, (list, tuple)) and raw and all(isinstance(r, np.ndarray) for r in raw):
        return torch.from_numpy(np.stack(raw))
    if isinstance(raw, (list, tuple)) and raw and all(isinstance(r, torch.Tensor) for r in raw):
        return torch.stack(list(raw))
    if isinstance(raw, np.ndarray):  # read-only arrays (memory maps) are copied: torch wants writable memory
        return torch.from_numpy(np.ascontiguousarray(raw) if raw.flags.writeable else np.array(raw))
    return raw


@dataclasses.dataclass(kw_only=True)
class InputSpec:
    """The raw format of a modality and how it becomes model input.

    Attributes:
        layout: ``image`` (B, C, H, W); ``map`` (B, H, W), a one-channel map without a channel axis
            (depth in metres, an edge mask) that the model sees as (B, 1, H, W); ``labels`` (B, H, W)
            integer class map; ``vector`` (B, C).
        channels_last: ``image`` inputs (and outputs) are (B, H, W, C) instead.
        dtype: ``uint8``, ``float``, ``int`` or ``bool`` raw values (``bool`` also takes 0/1 integers).
        channels: C of ``image`` / ``vector`` layouts (1 for ``map``).
        value_range: inclusive [low, high] of raw values (None = unchecked, either bound may be None);
            for labels [0, n−1].
        scale: raw values are multiplied by it first (1/255 for uint8 RGB).
        normalization: ``identity``; ``mean_std`` ((x·scale − mean) / std per channel); ``depth_robust``
            (4M's truncated depth standardisation, per image: sort the valid values, keep those
            between the ``robust_quantiles`` positions, x ← (x − mean)/√(var + 1e-6) with their mean
            and unbiased variance; invalid pixels become 0); ``depth_log`` (fixed range, so metres come
            back: :func:`log_depth` over ``depth_range``, invalid pixels → 1 = far).
        mean, std: per-channel statistics for ``mean_std``.
        robust_quantiles: trimming quantiles of ``depth_robust``.
        depth_range: [near, far] metres of ``depth_log``.
        invalid_below: raw values ≤ this are invalid (no depth); None = all valid.
        unit_vectors: raw values are unit vectors along the channels (surface normals) and all-zero
            where invalid; decoded vectors are renormalised, and those shorter than 0.5 become 0.
    """

    layout: Layout = "image"
    channels_last: bool = False
    dtype: Literal["uint8", "float", "int", "bool"] = "float"
    channels: int = 3
    value_range: tuple[float | None, float | None] | None = None
    scale: float = 1.0
    normalization: Normalization = "identity"
    mean: tuple[float, ...] = ()
    std: tuple[float, ...] = ()
    robust_quantiles: tuple[float, float] = (0.1, 0.9)
    depth_range: tuple[float, float] = (0.5, 50.0)
    invalid_below: float | None = None
    unit_vectors: bool = False


@dataclasses.dataclass(kw_only=True)
class DecodingSpec:
    """How the tokenizer decodes: ``decoder`` (vit / mlp / diffusion) and, for diffusion, the
    recommended DDIM ``steps`` and ``timestep_spacing``."""

    decoder: Literal["vit", "mlp", "diffusion"] = "vit"
    steps: int | None = None
    scheduler: Literal["ddim"] | None = None
    timestep_spacing: Literal["trailing", "leading", "linspace"] | None = None


@dataclasses.dataclass(kw_only=True)
class TokenizerCard:
    """The card of one tokenizer (see module docstring).

    Attributes:
        name: tokenizer id (e.g. ``depth`` for ``tok_depth@224``).
        modality: what it encodes: rgb, depth, normal, semseg, edges, feature_map, global_feature, pose.
        kind: architecture family: ``vqvae``, ``divae`` or ``mlp_vqvae``.
        input: raw input format and normalisation.
        output: what the decoder emits: ``values`` (normalised input space), ``probabilities``
            (logits → sigmoid), ``binary`` (logits → a bool mask, logit > 0, e.g. edges) or
            ``class_logits`` (argmax → class ids).
        image_size: default (H, W) of image-like inputs (None for vectors).
        patch_size: pixels per token side (None for vectors).
        codebook_size: ids per codebook; ``num_codebooks``: parallel codebooks (tokens per vector).
        latent_dim: width of the quantized latent.
        decoding: decoding defaults.
        model: the architecture config of ``kind`` as a dict (rebuilds the model).
        source: provenance (``omnimask``, ``ml-4m release``, ...).
    """

    name: str
    modality: str
    kind: TokenizerKind
    input: InputSpec
    output: Output = "values"
    image_size: tuple[int, int] | None = None
    patch_size: int | None = None
    codebook_size: int
    num_codebooks: int = 1
    latent_dim: int
    decoding: DecodingSpec = dataclasses.field(default_factory=DecodingSpec)
    model: dict[str, Any] = dataclasses.field(default_factory=dict)
    source: str = "omnimask"

    # ---- geometry -----------------------------------------------------------------------------
    def grid(self, image_size: tuple[int, int] | None = None) -> tuple[int, int]:
        """Token grid (h, w) at ``image_size`` (default: the card's); (1, n) for vector tokenizers."""
        if self.input.layout == "vector":
            return (1, self.num_codebooks)
        size = image_size or self.image_size
        if size is None or self.patch_size is None:
            raise ValueError(f"tokenizer {self.name!r} has no image size / patch size on its card")
        return (size[0] // self.patch_size, size[1] // self.patch_size)

    @property
    def tokens_per_sample(self) -> int:
        h, w = self.grid()
        return h * w

    # ---- raw input ------------------------------------------------------------------------------
    def _range_text(self) -> str:
        low, high = self.input.value_range or (None, None)
        if low is not None and high is not None:
            return f"in [{low:g}, {high:g}]"
        return f">= {low:g}" if low is not None else (f"<= {high:g}" if high is not None else "of any value")

    def _expected(self) -> str:
        spec = self.input
        image = f"(B, H, W, {spec.channels})" if spec.channels_last else f"(B, {spec.channels}, H, W)"
        shape = {"image": image, "map": "(B, H, W)", "labels": "(B, H, W)", "vector": f"(B, {spec.channels})"}
        rng = f" with values {self._range_text()}" if spec.value_range else ""
        return f"a {spec.dtype} tensor {shape[spec.layout]}{rng}"

    def check(self, raw: torch.Tensor | np.ndarray | Sequence[np.ndarray]) -> torch.Tensor:
        """Validate a raw batch against the card and return it as a tensor (channels second).

        Raises:
            TokenizerInputError: wrong shape, dtype, channel count, size or value range; the message
                names what the tokenizer expects.
        """
        x = as_batch(raw)
        if not isinstance(x, torch.Tensor):
            raise TokenizerInputError(f"{self.name}: expected {self._expected()}, got {type(raw).__name__}")
        spec, where = self.input, f"tokenizer {self.name!r} ({self.modality})"
        ndim = {"image": 4, "map": 3, "labels": 3, "vector": 2}[spec.layout]
        channel_axis = -1 if spec.layout == "image" and spec.channels_last else 1
        if x.ndim != ndim or (spec.layout in ("image", "vector") and x.shape[channel_axis] != spec.channels):
            raise TokenizerInputError(f"{where} takes {self._expected()}; got shape {tuple(x.shape)}")
        if spec.layout == "map":
            x = x[:, None]
        elif spec.layout != "labels":
            x = torch.movedim(x, channel_axis, 1)
        integer = not x.is_floating_point() and x.dtype != torch.bool and not x.is_complex()
        dtype_ok = {
            "uint8": x.dtype == torch.uint8,
            "float": x.is_floating_point(),
            "int": integer,
            "bool": x.dtype == torch.bool or (integer and (x.numel() == 0 or (x.min() >= 0 and x.max() <= 1))),
        }[spec.dtype]
        if not dtype_ok:
            hint = (
                " (convert float images in [0, 1] with (x * 255).round().to(torch.uint8))"
                if spec.dtype == "uint8"
                else ""
            )
            raise TokenizerInputError(f"{where} takes {self._expected()}; got dtype {x.dtype}{hint}")
        if x.is_floating_point() and not torch.isfinite(x).all():
            raise TokenizerInputError(f"{where}: the input holds NaN or infinite values")
        if (
            spec.layout != "vector"
            and self.patch_size
            and (x.shape[-2] % self.patch_size or x.shape[-1] % self.patch_size)
        ):
            raise TokenizerInputError(
                f"{where}: size {x.shape[-2]}x{x.shape[-1]} is not a multiple of the patch size {self.patch_size}"
            )
        if spec.value_range is not None and x.numel():
            lo, hi = float(x.min().float()), float(x.max().float())
            low, high = spec.value_range
            if (low is not None and lo < low) or (high is not None and hi > high):
                raise TokenizerInputError(f"{where} takes values {self._range_text()}; got [{lo:g}, {hi:g}]")
        return x

    def valid_mask(self, raw: torch.Tensor | np.ndarray) -> torch.Tensor | None:
        """(B, H, W) bool, True where the raw value is valid (None when every value is)."""
        return self._valid(self.check(raw))

    def _valid(self, x: torch.Tensor) -> torch.Tensor | None:
        """:meth:`valid_mask` of a checked (channels-second) batch."""
        spec = self.input
        if spec.layout not in ("image", "map"):
            return None
        if spec.unit_vectors:
            return (x != 0).any(dim=1)
        if spec.invalid_below is None:
            return None
        return (x > spec.invalid_below).all(dim=1)

    def robust_stats(self, raw: torch.Tensor | np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-image (μ, σ), each (B,), of ``depth_robust`` normalisation (see :class:`InputSpec`)."""
        return self._robust_stats(self.check(raw))

    def _robust_stats(self, checked: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = checked.float().flatten(1) * self.input.scale
        valid = self._valid(checked)
        valid = valid.flatten(1) if valid is not None else torch.ones_like(x, dtype=torch.bool)
        q_lo, q_hi = self.input.robust_quantiles
        mus, sigmas = torch.zeros(len(x), device=x.device), torch.ones(len(x), device=x.device)
        for i, (values, ok) in enumerate(zip(x, valid)):
            v = values[ok].sort().values
            if v.numel() < 2:  # nothing to estimate a spread from: leave the image as is
                continue
            trimmed = v[int(q_lo * v.numel()) : int(q_hi * v.numel())]
            trimmed = trimmed if trimmed.numel() >= 2 else v
            mus[i], sigmas[i] = trimmed.mean(), (trimmed.var() + 1e-6).sqrt()
        return mus, sigmas

    def normalize(self, raw: torch.Tensor | np.ndarray | Sequence[np.ndarray]) -> torch.Tensor:
        """Checked raw batch → model input (float32, or int64 class ids for ``labels``)."""
        x = self.check(raw)
        spec = self.input
        if spec.layout == "labels":
            return x.long()
        if spec.dtype == "bool":
            return (x > 0).float()
        if spec.normalization == "depth_log":
            valid = self._valid(x)
            return log_depth(torch.where(valid[:, None], x.float(), 0.0) if valid is not None else x, spec.depth_range)
        out = x.float() * spec.scale
        if spec.normalization == "mean_std":
            shape = (1, -1) + (1,) * (out.ndim - 2)
            mean = torch.tensor(spec.mean, dtype=out.dtype, device=out.device).reshape(shape)
            std = torch.tensor(spec.std, dtype=out.dtype, device=out.device).reshape(shape)
            out = (out - mean) / std
        elif spec.normalization == "depth_robust":
            mu, sigma = self._robust_stats(x)
            out = (out - mu.view(-1, 1, 1, 1)) / sigma.view(-1, 1, 1, 1)
            valid = self._valid(x)
            if valid is not None:
                out = out * valid[:, None]
        return out

    def denormalize(
        self, decoded: torch.Tensor, depth_stats: tuple[torch.Tensor, torch.Tensor] | None = None
    ) -> torch.Tensor:
        """Decoder output → the raw format.

        ``class_logits`` become class ids (B, H, W); ``probabilities`` are sigmoid(logits); ``binary``
        is the bool mask logits > 0; values undo ``mean_std`` / ``depth_log`` and ``scale``, are clamped
        to the value range and cast to the raw dtype; unit vectors are renormalised (short ones → 0).
        ``map`` layouts come back without the channel axis (B, H, W).
        ``depth_robust`` cannot be undone without the per-image statistics: pass ``depth_stats``
        (from :meth:`robust_stats` of the raw input) to get metric values back, otherwise the
        normalised (affine-invariant) depth is returned.
        """
        spec = self.input
        if self.output == "class_logits":
            return decoded.argmax(dim=1).to(torch.uint8 if decoded.shape[1] <= 256 else torch.int64)
        if self.output == "binary":
            return self._raw_layout(decoded > 0)
        out = decoded.float().sigmoid() if self.output == "probabilities" else decoded.float()
        if spec.normalization == "depth_log":
            return self._raw_layout(exp_depth(out, spec.depth_range))
        if spec.unit_vectors:
            norm = out.norm(dim=1, keepdim=True)
            out = torch.where(norm >= 0.5, out / norm.clamp_min(1e-6), 0.0)
        if spec.normalization == "mean_std":
            shape = (1, -1) + (1,) * (out.ndim - 2)
            out = out * torch.tensor(spec.std, device=out.device).reshape(shape)
            out = out + torch.tensor(spec.mean, device=out.device).reshape(shape)
        elif spec.normalization == "depth_robust" and depth_stats is not None:
            mu, sigma = depth_stats
            out = out * sigma.view(-1, 1, 1, 1).to(out) + mu.view(-1, 1, 1, 1).to(out)
        if spec.normalization != "depth_robust" or depth_stats is not None:
            out = out / spec.scale
            if spec.value_range is not None:
                out = out.clamp(min=spec.value_range[0], max=spec.value_range[1])
            if spec.dtype == "uint8":
                out = out.round().to(torch.uint8)
            elif spec.dtype == "int":
                out = out.round().long()
        return self._raw_layout(out)

    def _raw_layout(self, out: torch.Tensor) -> torch.Tensor:
        """A channels-second batch (B, C, H, W) in the raw layout (channels last, or none for ``map``)."""
        if self.input.layout == "map":
            return out[:, 0]
        return torch.movedim(out, 1, -1) if self.input.layout == "image" and self.input.channels_last else out

    # ---- files ----------------------------------------------------------------------------------
    def to_json(self) -> str:
        return json.dumps(to_dict(self), indent=2) + "\n"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TokenizerCard:
        """Build a card from its ``config.json`` content, refusing unknown keys.

        ``model`` is taken as is here; it is checked against the architecture config of ``kind``
        when the model is built (:func:`omnimask.tokenizers.base.build_vq_model`).
        """
        card = from_dict(cls, {k: v for k, v in data.items() if k != "model"})
        return dataclasses.replace(card, model=dict(data.get("model", {})))

    def save(self, directory: str | Path) -> Path:
        """Write ``config.json`` into ``directory`` (atomically)."""
        return write_text(Path(directory) / CONFIG_NAME, self.to_json())

    @classmethod
    def load(cls, directory: str | Path) -> TokenizerCard:
        return cls.from_dict(json.loads((Path(directory) / CONFIG_NAME).read_text()))
