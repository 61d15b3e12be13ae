"""Loading the released 4M tokenizers (apple/ml-4m ``VQVAE`` / ``DiVAE``) into omnimask's modules.

Layouts, as the reference accepts them:

* hub layout: a directory with ``config.json`` (the constructor keywords) + ``model.safetensors``;
* single file: ``model.safetensors`` (or a directory holding only it) whose ``__metadata__`` carries
  the same keywords (decoded safely by :mod:`omnimask.compat.safetensors_meta`, never evaluated).

The config names its architectures by preset (``enc_type``, ``dec_type``): the released ones
(``vit_{s,b,l}_enc``/``_dec``, ``unet_patched``) are built in, others (e.g. the tiny presets of a
reference-fixture set) are added from a ``presets.json`` with :func:`register_presets`. Which model a
config describes is not stated either: an ``*MLP*`` encoder means the MLP VQ-VAE, a UNet decoder (or
diffusion keys) the DiVAE, anything else the ViT VQ-VAE.

Weights convert by name except for four renames (:data:`KEY_RENAMES`): the codebook buffers
``quantize._codebook.*`` → ``quantize.*``, Memcodes ``to_k.weight`` / ``to_v.weight`` →
``key_proj`` / ``value_proj``, and the bottleneck MLP's ``block.0`` / ``block.2`` → ``fc1`` / ``fc2``.
Float16 tensors become float32. Options the reference supports but no release uses (Euclidean
codebook, several lucid codebooks, ConvNeXt ``out_conv``, UViT decoders, another decoder patch size)
are refused with a clear error rather than loaded wrongly.
"""

from __future__ import annotations

import dataclasses
import json
import re
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file

from omnimask.compat.safetensors_meta import read_metadata_config
from omnimask.files import CONFIG_NAME, WEIGHTS_NAME
from omnimask.model.checkpoint import check_shapes
from omnimask.tokenizers.base import ModalityTokenizer, build_vq_model, make_card
from omnimask.tokenizers.card import InputSpec, Output
from omnimask.tokenizers.diffusion.divae import DiffusionConfig, DiVAEConfig
from omnimask.tokenizers.diffusion.unet import UNetConfig
from omnimask.tokenizers.mlp_vqvae import BottleneckMLPConfig, MLPVQVAEConfig
from omnimask.tokenizers.quantizers import QuantizerConfig
from omnimask.tokenizers.vit import ViTConfig
from omnimask.tokenizers.vqvae import VQVAEConfig

TokenizerConfig = VQVAEConfig | DiVAEConfig | MLPVQVAEConfig


def _vit(dim: int, depth: int, heads: int) -> dict[str, Any]:
    return {"class": "ViT", "dim": dim, "depth": depth, "num_heads": heads, "mlp_ratio": 4.0, "qkv_bias": True,
            "norm_eps": 1e-6}  # fmt: skip


#: The architecture presets of the released tokenizers (name → class and hyper-parameters).
RELEASE_PRESETS: dict[str, dict[str, Any]] = {
    **{f"vit_{s}_{part}": _vit(*dims) for s, dims in {"s": (512, 8, 8), "b": (768, 12, 12), "l": (1024, 24, 16)}.items()
       for part in ("enc", "dec")},
    "unet_patched": {"class": "PatchedUNetCondCat", "patch_size": 4, "model_channels": 256, "num_res_blocks": 3,
                     "attention_resolutions": [4, 8], "channel_mult": [1, 2, 2, 2], "num_heads": 1, "dropout": 0.0,
                     "use_scale_shift_norm": False},
}  # fmt: skip
_PRESETS: dict[str, dict[str, Any]] = dict(RELEASE_PRESETS)
_VIT_CLASSES = ("ViT", "ViTEncoder", "ViTDecoder")
_UNET_CLASSES = ("PatchedUNetCondCat",)

#: Reference state-dict key → omnimask key (regex, replacement), applied in order.
KEY_RENAMES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^quantize\._codebook\."), "quantize."),
    (re.compile(r"^quantize\.to_k\.weight$"), "quantize.key_proj"),
    (re.compile(r"^quantize\.to_v\.weight$"), "quantize.value_proj"),
    (re.compile(r"\.blocks\.(\d+)\.block\.0\."), r".blocks.\1.fc1."),
    (re.compile(r"\.blocks\.(\d+)\.block\.2\."), r".blocks.\1.fc2."),
)

#: Config keys that do not change the architecture or inference.
_INERT_KEYS = {
    "sync_codebook", "ckpt_path", "ignore_keys", "freeze_enc", "scheduler", "dec_transformer_dropout",
    "conditioning", "kmeans_init", "image_size_dec", "image_size_enc", "patch_size_dec", "out_conv", "undo_std",
}  # fmt: skip
_USED_KEYS = {
    "image_size", "n_channels", "n_labels", "enc_type", "dec_type", "patch_proj", "post_mlp", "patch_size",
    "quant_type", "codebook_size", "num_codebooks", "latent_dim", "norm_codes", "norm_latents", "ema_decay",
    "threshold_ema_dead_code", "code_replacement_policy", "commitment_weight", "num_train_timesteps",
    "cls_free_guidance_dropout", "masked_cfg", "masked_cfg_low", "masked_cfg_high", "beta_schedule",
    "prediction_type", "clip_sample", "thresholding", "zero_terminal_snr",
}  # fmt: skip


def register_presets(source: Mapping[str, Any] | str | Path) -> list[str]:
    """Register architecture presets from a mapping or a ``presets.json`` file; returns their names.

    Each entry is ``name → {"class": ViTEncoder | ViTDecoder | PatchedUNetCondCat, hyper-parameters}``;
    keys starting with ``_`` (comments) are skipped.
    """
    presets: Mapping[str, Any] = source if isinstance(source, Mapping) else json.loads(Path(source).read_text())
    names = []
    for name, entry in presets.items():
        if name.startswith("_"):
            continue
        if not isinstance(entry, Mapping) or entry.get("class") not in _VIT_CLASSES + _UNET_CLASSES:
            raise ValueError(f"preset {name!r}: 'class' must be one of {_VIT_CLASSES + _UNET_CLASSES}, got {entry!r}")
        _PRESETS[name] = dict(entry)
        names.append(name)
    return names


def preset(name: str) -> dict[str, Any]:
    """The hyper-parameters of a registered preset (error lists the known names)."""
    try:
        return _PRESETS[name]
    except KeyError:
        raise KeyError(
            f"unknown tokenizer architecture preset {name!r}; known: {sorted(_PRESETS)}. "
            "Register it with omnimask.compat.tokenizers.register_presets(<presets.json>)"
        ) from None


def _vit_config(name: str) -> ViTConfig:
    p = preset(name)
    if p["class"] not in _VIT_CLASSES:
        raise ValueError(f"preset {name!r} is a {p['class']}, not a ViT")
    return ViTConfig(**{k: p[k] for k in ("dim", "depth", "num_heads", "mlp_ratio", "qkv_bias", "norm_eps")})


def _unet_config(name: str) -> UNetConfig:
    p = preset(name)
    if p["class"] not in _UNET_CLASSES:
        raise ValueError(f"decoder preset {name!r} is a {p['class']}; only patched-UNet diffusion decoders load")
    fields = ("patch_size", "model_channels", "num_res_blocks", "num_heads", "dropout", "use_scale_shift_norm")
    return UNetConfig(
        **{k: p[k] for k in fields},
        attention_resolutions=tuple(p["attention_resolutions"]),
        channel_mult=tuple(p["channel_mult"]),
    )


def _refuse(ref: Mapping[str, Any]) -> None:
    """Clear errors for reference options that omnimask does not implement."""
    if ref.get("out_conv"):
        raise ValueError("out_conv=True (ConvNeXt blocks after the ViT decoder) is not supported")
    if ref.get("patch_size_dec") not in (None, ref.get("patch_size")):
        raise ValueError("a decoder patch size different from the encoder's is not supported")
    if ref.get("quant_type", "lucid") == "lucid":
        if not ref.get("norm_codes", True):
            raise ValueError("quant_type='lucid' with norm_codes=False (Euclidean codebook) is not supported")
        if ref.get("num_codebooks", 1) != 1:
            raise ValueError("quant_type='lucid' with several codebooks is not supported")
    elif ref.get("quant_type") != "memcodes":
        raise ValueError(f"unknown quant_type {ref.get('quant_type')!r}; the releases use 'lucid' or 'memcodes'")
    if not isinstance(ref.get("codebook_size", 0), int):
        raise ValueError(f"codebook_size must be an integer, got {ref.get('codebook_size')!r}")


def config_from_release(ref: Mapping[str, Any]) -> TokenizerConfig:
    """Our model config for the keyword set of a released ``VQVAE`` / ``DiVAE``."""
    unknown = sorted(set(ref) - _USED_KEYS - _INERT_KEYS)
    if unknown:
        warnings.warn(f"released tokenizer config has keys omnimask does not know (ignored): {unknown}", stacklevel=2)
    _refuse(ref)
    lucid = ref.get("quant_type", "lucid") == "lucid"
    quantizer = QuantizerConfig(
        kind="cosine_ema" if lucid else "memcodes",
        codebook_size=ref.get("codebook_size", 16384),
        num_codebooks=ref.get("num_codebooks", 1),
        decay=ref.get("ema_decay", 0.99),
        dead_code_threshold=ref.get("threshold_ema_dead_code", 0.25),
        replacement=ref.get("code_replacement_policy", "batch_random"),
        commitment_weight=ref.get("commitment_weight", 1.0),
        norm_latents=ref.get("norm_latents", False),
    )
    enc_type, dec_type = ref.get("enc_type", "vit_b_enc"), ref.get("dec_type", "vit_b_dec")
    n_channels, latent_dim = ref.get("n_channels", 3), ref.get("latent_dim", 32)
    if "MLP" in enc_type:
        return MLPVQVAEConfig(
            in_dim=n_channels, latent_dim=latent_dim, encoder=BottleneckMLPConfig.parse(enc_type),
            decoder=BottleneckMLPConfig.parse(dec_type), quantizer=quantizer,
        )  # fmt: skip
    image_size = ref.get("image_size_enc") or ref.get("image_size", 224)
    common = {
        "in_channels": n_channels, "num_labels": ref.get("n_labels"), "image_size": image_size,
        "patch_size": ref.get("patch_size", 16), "patch_proj": ref.get("patch_proj", True),
        "post_mlp": ref.get("post_mlp", False), "latent_dim": latent_dim, "encoder": _vit_config(enc_type),
        "quantizer": quantizer,
    }  # fmt: skip
    if dec_type.startswith("unet") or "beta_schedule" in ref or preset(dec_type)["class"] in _UNET_CLASSES:
        diffusion = DiffusionConfig(
            num_train_timesteps=ref.get("num_train_timesteps", 1000),
            beta_schedule=ref.get("beta_schedule", "squaredcos_cap_v2"),
            zero_terminal_snr=ref.get("zero_terminal_snr", True),
            prediction_type=ref.get("prediction_type", "v_prediction"),
            thresholding=ref.get("thresholding", True),
            clip_sample=ref.get("clip_sample", False),
            cond_dropout=ref.get("cls_free_guidance_dropout", 0.0),
            masked_cond=ref.get("masked_cfg", False),
            masked_cond_low=ref.get("masked_cfg_low", 0),
            masked_cond_high=ref.get("masked_cfg_high"),
        )
        return DiVAEConfig(**common, unet=_unet_config(dec_type), diffusion=diffusion)
    dec_size = ref.get("image_size_dec") or ref.get("image_size", 224)
    return VQVAEConfig(
        **common, decoder_image_size=dec_size if dec_size != image_size else None, decoder=_vit_config(dec_type)
    )


def read_release(path: str | Path) -> tuple[dict[str, Any], Path]:
    """(constructor config, weights file) of a released tokenizer in either layout (module docstring)."""
    path = Path(path)
    if path.is_dir():
        if (path / CONFIG_NAME).is_file():
            cfg = json.loads((path / CONFIG_NAME).read_text())
            if set(cfg) == {"config"} and isinstance(cfg["config"], dict):  # hub mixin wrapping
                cfg = cfg["config"]
            weights = path / WEIGHTS_NAME
            if not weights.is_file():
                raise FileNotFoundError(f"{path} has a config.json but no model.safetensors")
            return cfg, weights
        files = sorted(path.glob("*.safetensors"))
        if len(files) != 1:
            raise FileNotFoundError(f"{path}: expected config.json + model.safetensors or one .safetensors file")
        path = files[0]
    if not path.is_file():
        raise FileNotFoundError(f"no tokenizer checkpoint at {path}")
    cfg = read_metadata_config(path)
    if not cfg:
        raise ValueError(f"{path} has no config in its safetensors metadata and no config.json beside it")
    return cfg, path


def convert_state_dict(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Released tokenizer state dict → ours (renames of :data:`KEY_RENAMES`, floats as float32)."""
    out = {}
    for key, value in state.items():
        for pattern, repl in KEY_RENAMES:
            key = pattern.sub(repl, key)
        out[key] = value.float() if value.is_floating_point() else value
    return out


#: Raw input formats of the 4M modalities (what ``tokenize`` takes when loading with ``modality=``).
RELEASED_INPUTS: dict[str, tuple[InputSpec, Output]] = {
    # with undo_std the model maps ImageNet-standardised input to [-1, 1] itself: we feed [-1, 1] directly
    "rgb": (InputSpec(dtype="uint8", channels=3, value_range=(0, 255), scale=1 / 255, normalization="mean_std",
                      mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5)), "values"),
    # 4M standardises every depth pixel (no validity mask) after dividing 16-bit PNG depth by 65535
    "depth": (InputSpec(channels=1, value_range=(0.0, None), normalization="depth_robust"), "values"),
    # 4M feeds normals as RGB images normalised with mean = std = 0.5, i.e. unit vectors in [-1, 1]
    "normal": (InputSpec(channels=3, value_range=(-1.0, 1.0)), "values"),
}  # fmt: skip


#: ImageNet statistics: what a released RGB tokenizer without ``undo_std`` sees (4M's RGB pipeline).
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def _default_input(cfg: TokenizerConfig, modality: str | None, undo_std: bool) -> tuple[str, InputSpec, Output]:
    if modality in RELEASED_INPUTS:
        spec, output = RELEASED_INPUTS[modality]
        if modality == "rgb" and not undo_std:  # the model itself takes ImageNet-standardised input
            spec = dataclasses.replace(spec, mean=IMAGENET_MEAN, std=IMAGENET_STD)
        return modality, spec, output
    if isinstance(cfg, MLPVQVAEConfig):
        return modality or "global_feature", InputSpec(layout="vector", channels=cfg.in_dim), "values"
    if cfg.num_labels:
        labels = InputSpec(layout="labels", dtype="int", value_range=(0, cfg.num_labels - 1))
        return modality or "semseg", labels, "class_logits"
    return modality or "feature_map", InputSpec(channels=cfg.in_channels), "values"


def load_released_tokenizer(
    path: str | Path,
    *,
    modality: str | None = None,
    input: InputSpec | None = None,
    name: str | None = None,
    presets: Mapping[str, Any] | str | Path | None = None,
) -> ModalityTokenizer:
    """Load a released 4M tokenizer (either layout) as a :class:`ModalityTokenizer` in eval mode.

    Args:
        path: the checkpoint directory or ``.safetensors`` file.
        modality: ``rgb`` (uint8 images; [-1, 1] model input with ``undo_std``, ImageNet-standardised
            without), ``depth`` (metric depth, truncated standardisation), ``normal`` (unit vectors in
            [-1, 1]) pick 4M's raw input format for the card; otherwise the card is inferred (class maps
            for segmentation, vectors for MLP tokenizers, float maps).
        input: an explicit raw input format (overrides the inferred one).
        name: tokenizer name on the card (default: the directory / file stem).
        presets: extra architecture presets to register first (see :func:`register_presets`).
    """
    if presets is not None:
        register_presets(presets)
    ref, weights = read_release(path)
    cfg = config_from_release(ref)
    modality_name, spec, output = _default_input(cfg, modality, bool(ref.get("undo_std", False)))
    card = make_card(
        cfg, name=name or (Path(path).stem if Path(path).is_file() else Path(path).name), modality=modality_name,
        input=input or spec, output=output, source="ml-4m release",
    )  # fmt: skip
    state = convert_state_dict(load_file(str(weights)))
    with torch.device("meta"):  # shapes first: a config that does not fit the weights allocates nothing
        skeleton = build_vq_model(card)
    check_shapes(Path(weights), {k: tuple(v.shape) for k, v in skeleton.state_dict().items()},
                 {k: tuple(v.shape) for k, v in state.items()})
    model = build_vq_model(card)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as err:
        raise ValueError(f"{weights} does not match the architecture its config describes: {err}") from err
    return ModalityTokenizer(model, card).eval()
