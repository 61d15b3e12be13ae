"""A 4M encoder as a plain feature extractor (4M's ``FMViT`` use): one whole input → token features.

Shape contract of :class:`FeatureEncoder` (``D`` the model width, ``N = h·w`` the input's token grid):

* a ``pixels`` input (e.g. ``rgb@64``): ``(B, 3, H, W)`` float32 RGB normalised with the ImageNet mean
  and standard deviation (:func:`omnimask.tokenizers.pixels.normalise_rgb`), ``H, W`` the spec's
  image size;
* an ``image_tokens`` input (e.g. ``tok_depth@64``): ``(B, N)`` int64 token ids from its tokenizer;
* output: ``(B, N, D)`` float32 encoder tokens after the final norm, row-major over the grid (token
  ``i`` covers patch row ``i // w``, column ``i % w``). Mean over ``N`` gives a global feature; reshape
  to ``(B, h, w, D)`` for a dense one.

It runs the same computation as :meth:`FourM.encode` on a fully kept input, without packing or
masks, so it traces with :func:`torch.export.export` (batch size dynamic); see
:func:`omnimask.loading.export_encoder` for the file a user loads with nothing but torch.
"""

from __future__ import annotations

import torch
from torch import nn

from omnimask.batch import ModalityBatch
from omnimask.config import ConfigError
from omnimask.model.embeddings import EncoderAdapter
from omnimask.model.fourm import FourM

#: Input kinds a FeatureEncoder reads (both have a token grid).
FEATURE_INPUT_KINDS = ("pixels", "image_tokens")


class FeatureEncoder(nn.Module):
    """The encoder of ``fourm`` on one grid input modality (see the module docstring).

    Args:
        fourm: a trained 4M (its embeddings, encoder blocks and norm are shared, not copied).
        modality: the input modality, one of ``fourm.input_modalities`` of a kind in :data:`FEATURE_INPUT_KINDS`.
    """

    def __init__(self, fourm: FourM, modality: str) -> None:
        super().__init__()
        if modality not in fourm.encoder_embeddings:
            raise ConfigError(f"{modality!r} is not an input of the model; inputs: {fourm.input_modalities}")
        spec = fourm.specs[modality]
        if spec.kind not in FEATURE_INPUT_KINDS:
            raise ConfigError(f"{modality!r} is a {spec.kind} input; a feature encoder reads {FEATURE_INPUT_KINDS}")
        self.modality, self.spec = modality, spec
        embedding = fourm.encoder_embeddings[modality]
        assert isinstance(embedding, EncoderAdapter)
        self.embedding: EncoderAdapter = embedding
        self.mod_emb = fourm.mod_emb[modality]
        self.blocks = fourm.encoder
        self.norm = fourm.encoder_norm

    @property
    def dim(self) -> int:
        return int(self.mod_emb.shape[-1])

    def input_shape(self) -> tuple[int, ...]:
        """Shape of one input without the batch dimension."""
        if self.spec.kind == "pixels":
            return (self.spec.channels, *self.spec.image_size)  # type: ignore[misc]
        return (self.spec.num_tokens,)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) pixels or (B, N) token ids → (B, N, D) features."""
        if tuple(x.shape[1:]) != self.input_shape():
            raise ValueError(f"{self.modality}: expected input of shape (B, {', '.join(map(str, self.input_shape()))}),"
                             f" got {tuple(x.shape)}")
        size, n = x.shape[0], self.spec.num_tokens
        keep = torch.ones(size, n, dtype=torch.bool, device=x.device)
        b = torch.arange(size, device=x.device).repeat_interleave(n)
        j = torch.arange(n, device=x.device).repeat(size)
        tokens, pos = self.embedding.embed(ModalityBatch(x, keep, torch.zeros_like(keep)), b, j)  # (B·N, D) each
        h = (tokens + pos + self.mod_emb).reshape(size, n, -1)
        for block in self.blocks:
            h = block(h, keep[:, None, :])
        return self.norm(h)
