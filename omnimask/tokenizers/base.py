"""The Tokenizer protocol, and the card-driven tokenizer that wraps every VQ model of omnimask.

4M turns each modality into discrete ids with a tokenizer of its own and back again after generation.
Whatever the architecture, a tokenizer offers :class:`Tokenizer`: ``tokenize(raw) -> ids`` and
``detokenize(ids) -> raw``. :class:`ModalityTokenizer` implements it for the VQ-VAE, DiVAE and MLP
VQ-VAE models: its :class:`~omnimask.tokenizers.card.TokenizerCard` validates and normalises raw
input and turns decoder output back into the raw modality, so callers never handle normalisation.

Checkpoints are directories with ``model.safetensors`` + ``config.json`` (the card, which also holds
the architecture): :meth:`ModalityTokenizer.save` / :meth:`ModalityTokenizer.load`. Released 4M
tokenizers load through :mod:`omnimask.compat.tokenizers`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch
from torch import nn

from omnimask.config import from_dict, to_dict
from omnimask.files import WEIGHTS_NAME, check_shapes, open_safetensors, tensor_shapes, write_safetensors
from omnimask.tokenizers.card import DecodingSpec, InputSpec, Output, TokenizerCard
from omnimask.tokenizers.diffusion.divae import DiVAE, DiVAEConfig
from omnimask.tokenizers.mlp_vqvae import MLPVQVAE, MLPVQVAEConfig
from omnimask.tokenizers.vqvae import SpatialVQVAE, VQModel, VQVAEConfig


@runtime_checkable
class Tokenizer(Protocol):
    """What every tokenizer offers (image-like, vector and text tokenizers alike)."""

    @property
    def vocab_size(self) -> int: ...

    def tokenize(self, raw: Any) -> torch.Tensor:
        """Raw modality batch → int64 ids (B, N)."""
        ...

    def detokenize(self, ids: torch.Tensor, **kwargs: Any) -> Any:
        """Ids (B, N) → raw modality batch."""
        ...


#: kind → (config class, model class).
MODEL_KINDS: dict[str, tuple[type, Callable[[Any], VQModel]]] = {
    "vqvae": (VQVAEConfig, SpatialVQVAE),
    "divae": (DiVAEConfig, DiVAE),
    "mlp_vqvae": (MLPVQVAEConfig, MLPVQVAE),
}


def build_vq_model(card: TokenizerCard) -> VQModel:
    """The (untrained) model described by ``card.kind`` and ``card.model``."""
    cfg_cls, model_cls = MODEL_KINDS[card.kind]
    return model_cls(from_dict(cfg_cls, card.model))


def _kind_of(cfg: Any) -> str:
    for kind, (cfg_cls, _) in MODEL_KINDS.items():
        if isinstance(cfg, cfg_cls):
            return kind
    raise TypeError(f"no tokenizer kind for config {type(cfg).__name__}; known: {sorted(MODEL_KINDS)}")


def make_card(
    cfg: VQVAEConfig | DiVAEConfig | MLPVQVAEConfig,
    *,
    name: str,
    modality: str,
    input: InputSpec,
    output: Output = "values",
    decoding: DecodingSpec | None = None,
    source: str = "omnimask",
) -> TokenizerCard:
    """A card whose geometry, codebook and decoding fields are read off the model config."""
    kind = _kind_of(cfg)
    q = cfg.quantizer
    if decoding is None:
        if isinstance(cfg, DiVAEConfig):
            d = cfg.diffusion
            decoding = DecodingSpec(
                decoder="diffusion", steps=d.decode_steps, scheduler="ddim", timestep_spacing=d.timestep_spacing
            )
        else:
            decoding = DecodingSpec(decoder="mlp" if kind == "mlp_vqvae" else "vit")
    if isinstance(cfg, MLPVQVAEConfig):  # vector tokenizer: no image geometry
        image_size, patch_size = None, None
    else:
        image_size, patch_size = (cfg.image_size, cfg.image_size), cfg.patch_size
    return TokenizerCard(
        name=name,
        modality=modality,
        kind=kind,  # type: ignore[arg-type]
        input=input,
        output=output,
        image_size=image_size,
        patch_size=patch_size,
        codebook_size=q.vocab_size,
        num_codebooks=q.num_codebooks if q.kind == "memcodes" else 1,
        latent_dim=cfg.latent_dim,
        decoding=decoding,
        model=to_dict(cfg),
        source=source,
    )


class ModalityTokenizer(nn.Module):
    """A VQ model plus its card: ``tokenize(raw) -> (B, N)`` ids and ``detokenize(ids) -> raw``.

    Args:
        model: a :class:`SpatialVQVAE`, :class:`DiVAE` or :class:`MLPVQVAE`.
        card: its card (input format, normalisation, geometry, decoding defaults).
    """

    def __init__(self, model: VQModel, card: TokenizerCard) -> None:
        super().__init__()
        self.model = model
        self.card = card

    @property
    def vocab_size(self) -> int:
        return self.card.codebook_size

    def _device(self) -> torch.device:
        return next(self.model.parameters()).device

    @torch.no_grad()
    def tokenize(self, raw: torch.Tensor | np.ndarray | Sequence[np.ndarray]) -> torch.Tensor:
        """Raw batch in the card's format (or a list of per-sample arrays) → int64 ids (B, N), row-major.

        Raises:
            TokenizerInputError: the input does not match the card (shape, dtype, range, size).
        """
        x = self.card.normalize(raw).to(self._device())
        return self.model.tokenize(x).reshape(x.shape[0], -1)

    def _grid_ids(self, ids: torch.Tensor, image_size: tuple[int, int] | None) -> torch.Tensor:
        """Ids (B, N) or (B, h, w) → (B, h, w) for image tokenizers."""
        if ids.ndim == 3:
            return ids
        if ids.ndim != 2:
            raise ValueError(f"ids must be (B, N) or (B, h, w), got {tuple(ids.shape)}")
        n = ids.shape[1]
        h, w = self.card.grid(image_size)
        if h * w != n:
            side = math.isqrt(n)
            if image_size is not None or side * side != n:
                raise ValueError(
                    f"{n} tokens do not fill the {h}x{w} grid of {self.card.name!r}; pass ids as (B, h, w) "
                    "or the image_size they were tokenized at"
                )
            h = w = side
        return ids.reshape(ids.shape[0], h, w)

    @torch.no_grad()
    def detokenize(
        self,
        ids: torch.Tensor,
        *,
        image_size: tuple[int, int] | None = None,
        depth_stats: tuple[torch.Tensor, torch.Tensor] | None = None,
        **decode_kwargs: Any,
    ) -> torch.Tensor:
        """Ids → raw modality (see :meth:`TokenizerCard.denormalize` for each output format).

        Args:
            ids: (B, N) row-major (or (B, h, w)); (B, n) for vector tokenizers.
            image_size: pixel size the ids were tokenized at, when N alone does not say it.
            depth_stats: per-image (μ, σ) to undo robust depth normalisation.
            decode_kwargs: passed to the decoder (diffusion: ``num_steps``, ``generator``, ``noise``,
                ``spacing``, ``eta``; defaults from the card).
        """
        ids = ids.to(self._device())
        if self.card.input.layout != "vector":
            ids = self._grid_ids(ids, image_size)
        if isinstance(self.model, DiVAE):
            decode_kwargs.setdefault("num_steps", self.card.decoding.steps)
            decode_kwargs.setdefault("image_size", image_size)
        decoded = self.model.decode_tokens(ids, **decode_kwargs)
        return self.card.denormalize(decoded, depth_stats)

    # ---- checkpoints ----------------------------------------------------------------------------
    def save(self, directory: str | Path, dtype: torch.dtype | None = None) -> Path:
        """Write ``model.safetensors`` and ``config.json`` (the card) into ``directory``.

        ``dtype`` (e.g. ``torch.float16``) stores floating weights smaller; :meth:`load` casts them
        back to float32.
        """
        directory = Path(directory)
        state = {k: v.to(dtype) if dtype is not None and v.is_floating_point() else v
                 for k, v in self.model.state_dict().items()}  # fmt: skip
        write_safetensors(directory / WEIGHTS_NAME, state)
        self.card.save(directory)
        return directory

    @classmethod
    def load(cls, directory: str | Path, device: torch.device | str = "cpu") -> ModalityTokenizer:
        """Load a tokenizer written by :meth:`save` (weights cast to float32), in eval mode.

        The card's architecture is checked against the weights' header before anything is allocated: a
        card that does not describe the weights (edited, or another tokenizer's) is a ValueError naming
        the tensors that differ.
        """
        directory = Path(directory)
        card = TokenizerCard.load(directory)
        weights = directory / WEIGHTS_NAME
        with torch.device("meta"):  # shapes only: a card that does not fit the weights allocates nothing
            skeleton = build_vq_model(card)
        check_shapes(weights, {k: tuple(v.shape) for k, v in skeleton.state_dict().items()}, tensor_shapes(weights))
        with open_safetensors(weights) as f:
            state = {k: (v.float() if (v := f.get_tensor(k)).is_floating_point() else v) for k in f.keys()}  # noqa: SIM118
        model = build_vq_model(card)
        model.load_state_dict(state, strict=True)
        return cls(model, card).to(device).eval()

    @classmethod
    def create(cls, cfg: VQVAEConfig | DiVAEConfig | MLPVQVAEConfig, **card_fields: Any) -> ModalityTokenizer:
        """A fresh (untrained) tokenizer for ``cfg``; ``card_fields`` as for :func:`make_card`."""
        card = make_card(cfg, **card_fields)
        return cls(build_vq_model(card), card)
