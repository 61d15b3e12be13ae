"""Tokenizer training runs as data: one recipe per SynthWorld map, and the configuration they fill in.

``omnimask tokenizer train --modality M --recipe R`` calls ``TOKENIZER_RECIPES[R](M)`` (named apart
from the model recipes of :mod:`omnimask.recipes`); ``--set key=value`` then changes any field of
the resulting :class:`TokenizerTrainConfig` (``model.decoder.dim=96``, ``steps=200``,
``data.path=...``). Every recipe of ``synth64`` is a small ViT VQ-VAE (4M's spatial
tokenizer: ViT encoder, cosine-EMA codebook, ViT decoder) on 64×64 maps with an 8×8 token grid: a
light encoder (width 64) and a wider decoder (width 128, which sharpens boundaries most per second),
sized to train in under 15 minutes on one shared CPU core and to store in about 1 MB (float16).
The shipped SynthWorld bundle was trained with these recipes (codebooks: 1024 for ``semseg``,
512 for the others).

The raw format of each map (what ``tokenize`` takes and ``detokenize`` returns) is its card's
:class:`~omnimask.tokenizers.card.InputSpec`: uint8 RGB (channels last), depth in metres through a
fixed-range log mapping (so metres come back), unit normals, class ids, bool edges.

Feature tokenizers (4M's ``tok_clip`` and 4M-21's global tokenizers; data in
:mod:`omnimask.training.tokenizers.features`) take MiniCLIP *features*, not RGB: ``clip`` is a ViT
VQ-VAE with patch size 1 on the (B, 8, 8, 64) float32 patch-feature grid (layer-normed, so no input
normalisation; smooth-L1 loss), ``clip_global`` an MLP VQ-VAE with a 4-head Memcodes quantizer on the
(B, 64) unit-norm embedding (scaled ×8 to unit variance per component; MSE, which for unit vectors
is the cosine distance up to a factor). Neither flips its training data: a mirrored feature map is
not the feature map of the mirrored image.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from omnimask.config import ConfigError
from omnimask.data.synthworld import SEMANTIC_CLASSES
from omnimask.tokenizers.card import InputSpec, Output
from omnimask.tokenizers.mlp_vqvae import BottleneckMLPConfig, MLPVQVAEConfig
from omnimask.tokenizers.quantizers import QuantizerConfig
from omnimask.tokenizers.vit import ViTConfig
from omnimask.tokenizers.vqvae import VQVAEConfig
from omnimask.training.optim import OptimConfig
from omnimask.training.tokenizers.data import MAP_KINDS, TokenizerDataConfig
from omnimask.training.tokenizers.features import FEATURE_KINDS


@dataclasses.dataclass(kw_only=True)
class TokenizerTrainConfig:
    """One tokenizer training run.

    Attributes:
        recipe: the recipe name it started from.
        modality: the SynthWorld map (``rgb``, ``depth``, ``normal``, ``semseg``, ``edges``) or MiniCLIP
            feature (``clip``, ``clip_global``).
        model: the ViT VQ-VAE architecture (its quantizer's codebook size is the vocabulary).
        mlp: the MLP VQ-VAE architecture of a vector tokenizer (``clip_global``); exactly one of
            ``model`` and ``mlp`` is set.
        input: the raw format and normalisation (becomes the card's ``input``).
        output: what the decoder emits (``values``, ``binary`` logits, ``class_logits``).
        invalid_weight: loss weight of invalid pixels (depth/normals on sky), whose target is the
            normalised fill value (far depth, zero normal); 0 ignores them.
        positive_weight: loss weight of positive pixels of a binary map (sparse edges).
        class_balance: class maps weigh each pixel by its class frequency^−class_balance (0 = plain
            cross-entropy; 0.5 lifts small classes, which mean IoU counts as much as large ones).
        focal_gamma: class and binary maps weigh each pixel by (1 − p_true)^γ (focal loss, normalised):
            once the easy interiors are right, learning goes to boundaries of small shapes (0 = off).
        data: where the maps come from.
        optim: AdamW and its warm-up + cosine schedule (shared with 4M training).
        steps, batch_size: optimisation length and maps per step.
        seed: seeds initialisation, batch sampling, flips and the codebook's random choices.
        threads: torch CPU threads (0 = leave torch's default).
        log_every: steps between JSONL records (loss, codebook usage and perplexity).
        image_every: steps between PNG grids of validation reconstructions (0 = only at the end).
        save_every: steps between resumable checkpoints.
        eval_every: steps between validation metrics on ``eval_samples`` maps (0 = only at the end).
        eval_samples: validation maps measured during training (the final evaluation uses all).
        grid_samples: rows of the PNG grids.
    """

    recipe: str = ""
    modality: str
    model: VQVAEConfig | None = None
    mlp: MLPVQVAEConfig | None = None
    input: InputSpec
    output: Output = "values"
    invalid_weight: float = 1.0
    positive_weight: float = 1.0
    class_balance: float = 0.0
    focal_gamma: float = 0.0
    data: TokenizerDataConfig = dataclasses.field(default_factory=TokenizerDataConfig)
    optim: OptimConfig = dataclasses.field(default_factory=lambda: OptimConfig(
        lr=2e-3, min_lr=5e-5, warmup_steps=200, weight_decay=0.01, betas=(0.9, 0.99)))
    steps: int = 3000
    batch_size: int = 64
    seed: int = 0
    threads: int = 0
    log_every: int = 50
    image_every: int = 1000
    save_every: int = 500
    eval_every: int = 1000
    eval_samples: int = 128
    grid_samples: int = 6

    def __post_init__(self) -> None:
        if self.modality not in TRAINABLE:
            raise ConfigError(f"modality {self.modality!r}: tokenizers train on {list(TRAINABLE)}")
        if (self.model is None) == (self.mlp is None):
            raise ConfigError("set exactly one of model (ViT VQ-VAE) and mlp (MLP VQ-VAE)")
        if self.steps < 1 or self.batch_size < 1:
            raise ConfigError("steps and batch_size must be >= 1")
        if self.modality in FEATURE_KINDS and self.data.flip:
            raise ConfigError(f"{self.modality}: set data.flip=false (a mirrored feature map is not the "
                              "features of the mirrored image)")  # fmt: skip

    @property
    def arch(self) -> VQVAEConfig | MLPVQVAEConfig:
        """The architecture being trained (``model`` or ``mlp``)."""
        arch = self.model if self.model is not None else self.mlp
        assert arch is not None
        return arch


#: Every modality a tokenizer can be trained for: the SynthWorld maps, then the MiniCLIP features.
TRAINABLE: tuple[str, ...] = (*MAP_KINDS, *FEATURE_KINDS)


#: The raw format of each SynthWorld map: (input spec, decoder output, reconstruction loss, labels).
SYNTH_MAPS: dict[str, tuple[InputSpec, Output, str, int | None]] = {
    "rgb": (InputSpec(layout="image", channels_last=True, dtype="uint8", channels=3, value_range=(0, 255),
                      scale=1 / 255, normalization="mean_std", mean=(0.5,) * 3, std=(0.5,) * 3), "values", "mse", None),
    "depth": (InputSpec(layout="map", channels=1, value_range=(0.0, None), normalization="depth_log",
                        depth_range=(0.5, 50.0), invalid_below=0.0), "values", "l1", None),
    "normal": (InputSpec(layout="image", channels_last=True, channels=3, value_range=(-1.0, 1.0),
                         unit_vectors=True), "values", "mse", None),
    "semseg": (InputSpec(layout="labels", dtype="int", value_range=(0, len(SEMANTIC_CLASSES) - 1)),
               "class_logits", "cross_entropy", len(SEMANTIC_CLASSES)),
    "edges": (InputSpec(layout="map", dtype="bool", channels=1), "binary", "bce", None),
}  # fmt: skip


def _vit(size: tuple[int, int]) -> ViTConfig:
    dim, depth = size
    return ViTConfig(dim=dim, depth=depth, num_heads=max(1, dim // 32))


def synth_config(modality: str, *, resolution: int = 64, patch: int = 8, encoder: tuple[int, int] = (64, 2),
                 decoder: tuple[int, int] = (64, 2), codebook: int = 512, latent_dim: int = 32, steps: int = 3000,
                 batch_size: int = 32, recipe: str = "") -> TokenizerTrainConfig:
    """A SynthWorld map tokenizer run: a ViT VQ-VAE with (width, blocks) ``encoder`` and ``decoder``."""
    spec, output, loss, labels = SYNTH_MAPS[modality]
    model = VQVAEConfig(
        in_channels=16 if labels else spec.channels, num_labels=labels, image_size=resolution, patch_size=patch,
        latent_dim=latent_dim, encoder=_vit(encoder), decoder=_vit(decoder), loss=loss,  # type: ignore[arg-type]
        quantizer=QuantizerConfig(kind="cosine_ema", codebook_size=codebook, decay=0.99, dead_code_threshold=0.25),
    )  # fmt: skip
    cfg = TokenizerTrainConfig(
        recipe=recipe, modality=modality, model=model, input=dataclasses.replace(spec), output=output,
        data=TokenizerDataConfig(resolution=resolution), steps=steps, batch_size=batch_size,
    )  # fmt: skip
    cfg.optim.warmup_steps = min(100, steps // 10)
    return cfg


def _synth64(modality: str) -> TokenizerTrainConfig:
    if modality in FEATURE_KINDS:
        cfg = clip_config(modality, recipe="synth64", **CLIP64[modality])  # type: ignore[arg-type]
        cfg.threads = 1
        return cfg
    cfg = synth_config(modality, recipe="synth64", **SYNTH64[modality])  # type: ignore[arg-type]
    cfg.threads = 1  # a fixed thread count keeps float sums, hence the shipped weights, reproducible
    if modality == "depth":
        cfg.invalid_weight = 0.1  # sky should decode as far, but must not cost surface accuracy
    if modality == "edges":
        cfg.positive_weight = 2.0  # edges cover ~5 % of pixels
    return cfg


#: Per-map settings of the ``synth64`` recipes (arguments of :func:`synth_config`), sized so that each
#: trains in under 15 minutes on a shared two-core CPU (one torch thread) and the five weigh a few MB.
SYNTH64: dict[str, dict[str, object]] = {
    "rgb": {"encoder": (64, 1), "decoder": (128, 2), "codebook": 512, "steps": 6000},
    "depth": {"encoder": (64, 1), "decoder": (128, 2), "codebook": 512, "steps": 5000},
    "normal": {"encoder": (64, 1), "decoder": (128, 2), "codebook": 512, "steps": 3000},
    "semseg": {"encoder": (64, 1), "decoder": (128, 2), "codebook": 1024, "steps": 5000},
    "edges": {"encoder": (64, 1), "decoder": (128, 2), "codebook": 512, "steps": 6000},
}


#: Raw formats of the MiniCLIP features (see module docstring).
CLIP_INPUTS: dict[str, InputSpec] = {
    "clip": InputSpec(layout="image", channels_last=True, channels=64),
    "clip_global": InputSpec(layout="vector", channels=64, scale=8.0),
}
#: Tokens per ``clip_global`` embedding (Memcodes heads): 4 × 9 bits keep R@1 among 100 (~7 bits needed).
CLIP_GLOBAL_TOKENS = 4


def clip_config(modality: str, *, codebook: int = 512, latent_dim: int = 32, encoder: tuple[int, int] = (64, 1),
                decoder: tuple[int, int] = (128, 2), width: int = 256, blocks: int = 2, steps: int = 3000,
                batch_size: int = 64, recipe: str = "") -> TokenizerTrainConfig:
    """A MiniCLIP feature tokenizer run: ``clip`` a patch-1 ViT VQ-VAE on the 8×8 feature grid with
    (width, blocks) ``encoder`` / ``decoder``; ``clip_global`` an MLP VQ-VAE with ``blocks`` residual
    blocks of ``width`` per side and :data:`CLIP_GLOBAL_TOKENS` Memcodes heads of ``codebook`` codes."""
    spec = dataclasses.replace(CLIP_INPUTS[modality])
    data = TokenizerDataConfig(flip=False)
    if modality == "clip":
        model = VQVAEConfig(
            in_channels=spec.channels, image_size=8, patch_size=1, patch_proj=False, latent_dim=latent_dim,
            encoder=_vit(encoder), decoder=_vit(decoder), loss="smooth_l1",
            quantizer=QuantizerConfig(kind="cosine_ema", codebook_size=codebook, decay=0.99, dead_code_threshold=0.25),
        )  # fmt: skip
        cfg = TokenizerTrainConfig(recipe=recipe, modality=modality, model=model, input=spec, data=data,
                                   steps=steps, batch_size=batch_size)  # fmt: skip
    else:
        mlp = BottleneckMLPConfig(num_blocks=blocks, width=width, expansion=2)
        arch = MLPVQVAEConfig(
            in_dim=spec.channels, latent_dim=latent_dim, encoder=mlp, decoder=dataclasses.replace(mlp), loss="mse",
            quantizer=QuantizerConfig(kind="memcodes", codebook_size=codebook, num_codebooks=CLIP_GLOBAL_TOKENS),
        )  # fmt: skip
        cfg = TokenizerTrainConfig(recipe=recipe, modality=modality, mlp=arch, input=spec, data=data,
                                   steps=steps, batch_size=batch_size)  # fmt: skip
    cfg.optim.warmup_steps = min(100, steps // 10)
    cfg.image_every = 0  # features have no picture
    return cfg


#: ``synth64`` settings of the feature tokenizers (arguments of :func:`clip_config`), sized for about 8
#: minutes on one torch thread (clip ~0.23 s/step alone, 539 s measured beside another training on the
#: 2 cores; clip_global 243 s). The shipped ``clip`` / ``clip_global`` tokenizers are these runs.
CLIP64: dict[str, dict[str, object]] = {
    "clip": {"encoder": (64, 1), "decoder": (128, 2), "codebook": 512, "steps": 1800},
    "clip_global": {"width": 128, "blocks": 2, "codebook": 512, "latent_dim": 64, "steps": 6000, "batch_size": 256},
}


def _tiny(modality: str) -> TokenizerTrainConfig:
    """Seconds-long smoke run (tests, CI): 32×32 maps rendered on the fly, one width-32 block per side."""
    if modality in FEATURE_KINDS:
        cfg = clip_config(modality, codebook=16, latent_dim=8, encoder=(32, 1), decoder=(32, 1), width=32, blocks=1,
                          steps=4, batch_size=4, recipe="tiny")
        cfg.log_every, cfg.save_every, cfg.eval_every = 2, 2, 0
        cfg.eval_samples, cfg.optim.warmup_steps = 4, 1
        cfg.data = TokenizerDataConfig(resolution=32, num_scenes=40, max_val=4, flip=False)
        return cfg
    cfg = synth_config(modality, resolution=32, encoder=(32, 1), decoder=(32, 1), codebook=64, latent_dim=8, steps=4,
                       batch_size=4, recipe="tiny")
    cfg.log_every, cfg.image_every, cfg.save_every, cfg.eval_every = 2, 2, 2, 0
    cfg.eval_samples, cfg.grid_samples, cfg.optim.warmup_steps = 4, 2, 1
    cfg.data = TokenizerDataConfig(resolution=32, num_scenes=40, max_val=4)
    return cfg


#: recipe name → modality → config.
TOKENIZER_RECIPES: dict[str, Callable[[str], TokenizerTrainConfig]] = {"synth64": _synth64, "tiny": _tiny}


def tokenizer_recipe(name: str, modality: str) -> TokenizerTrainConfig:
    """The run of recipe ``name`` for ``modality``; errors list the known names."""
    if name not in TOKENIZER_RECIPES:
        raise ConfigError(f"unknown tokenizer recipe {name!r}; known: {sorted(TOKENIZER_RECIPES)}")
    if modality not in TRAINABLE:
        raise ConfigError(f"unknown modality {modality!r}; tokenizer recipes cover {list(TRAINABLE)}")
    return TOKENIZER_RECIPES[name](modality)
