"""Loading released 4M ("FM", apple/ml-4m) checkpoints into :class:`omnimask.model.FourM`.

Two layouts are accepted, as the reference accepts them:

* a model-hub directory: ``config.json`` (the ``FM`` constructor config) + ``model.safetensors``;
* a single ``.safetensors`` file (or a directory holding only it) whose ``__metadata__`` carries
  the same config (decoded by :mod:`omnimask.compat.safetensors_meta`, never evaluated).

The config says nothing about vocabularies or token counts: modality specs start from the 4M-21
registry (a superset of 4M-7) or from ``specs`` given by the caller, and vocabulary sizes, token
grids, pixel patch sizes and embedding widths are read off the tensor shapes. Architecture fields
the config omits are inferred from the tensors too (except ``num_heads``).

Weights convert almost by name. The differences, all at this boundary: the two stored copies of a
shared modality embedding become one ``mod_emb.<m>``; the zero LayerNorm-bias buffers and the
(never used) decoder token embeddings of image modalities are dropped; the fixed sin-cos tables
are copied into our non-persistent buffers; float16 becomes float32. Batches in the reference's
mod_dict format convert with :func:`batch_from_reference` (mask polarity flipped, int64 ids; the
sequence layout is the same).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from omnimask.batch import Batch, ModalityBatch
from omnimask.compat.safetensors_meta import read_metadata_config
from omnimask.config import ConfigError
from omnimask.files import CONFIG_NAME, WEIGHTS_NAME, open_safetensors
from omnimask.modalities import ModalitySpec, fourm21_modalities
from omnimask.model.checkpoint import check_shapes
from omnimask.model.config import BLOCK_FIELDS, RELEASED_BLOCK, ModelConfig, config_for_specs
from omnimask.model.fourm import FourM
from omnimask.nn.mlp import mlp_hidden_dim

#: Constructor arguments that do not change inference, and are therefore ignored.
IGNORED_FIELDS = ("drop_path_rate_encoder", "drop_path_rate_decoder", "shared_drop_path", "use_act_checkpoint")
#: Constructor arguments we support only at the value every release uses.
FIXED_FIELDS = {
    "decoder_causal_mask": False,
    "decoder_sep_mask": True,
    "num_register_tokens": 0,
    "share_modality_embeddings": True,
}
#: Reference field -> ModelConfig field (or :class:`~omnimask.nn.BlockOptions` field), for fields that map one to one.
DIRECT_FIELDS = {
    "dim": "dim",
    "encoder_depth": "encoder_depth",
    "decoder_depth": "decoder_depth",
    "num_heads": "num_heads",
    "mlp_ratio": "mlp_ratio",
    "qkv_bias": "qkv_bias",
    "proj_bias": "proj_bias",
    "mlp_bias": "mlp_bias",
    "norm_bias": "norm_bias",
    "gated_mlp": "gated_mlp",
    "qk_norm": "qk_norm",
}
DOMAIN_FIELDS = ("domains_in", "domains_out", "image_size", "patch_size", "act_layer")


# ---------------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------------
def read_fm_checkpoint(path: str | Path) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """The reference config and the raw state dict of a checkpoint in either layout."""
    path = Path(path)
    weights = path / WEIGHTS_NAME if path.is_dir() else path
    if not weights.is_file():
        raise FileNotFoundError(f"no model.safetensors at {path} (expected a 4M checkpoint directory or file)")
    config_file = weights.parent / CONFIG_NAME
    if path.is_dir() and config_file.is_file():
        config = json.loads(config_file.read_text())
    else:
        config = read_metadata_config(weights)
    if not config:
        raise ValueError(f"{weights}: no config.json beside it and no config in its safetensors metadata")
    with open_safetensors(weights) as f:
        state = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (safe_open has no __iter__)
    return config, state


def _depth(state: Mapping[str, torch.Tensor], prefix: str) -> int:
    return len({k.split(".")[1] for k in state if k.startswith(prefix + ".")})


def _infer_arch(ref: Mapping[str, Any], state: Mapping[str, torch.Tensor]) -> dict[str, Any]:
    """ModelConfig architecture and block fields (flat) from the reference config, filling gaps from tensor shapes."""
    unknown = sorted(set(ref) - set(DIRECT_FIELDS) - set(DOMAIN_FIELDS) - set(IGNORED_FIELDS) - set(FIXED_FIELDS))
    if unknown:
        raise ConfigError(f"4M config has fields omnimask does not know: {unknown}")
    for name, supported in FIXED_FIELDS.items():
        if name in ref and ref[name] != supported:
            raise ConfigError(f"4M config {name}={ref[name]!r} is not supported (only {supported!r})")
    if "num_heads" not in ref:
        raise ConfigError("4M config lacks num_heads, which cannot be read off the weights; add it to config.json")
    arch = {ours: ref[theirs] for theirs, ours in DIRECT_FIELDS.items() if theirs in ref}
    arch.setdefault("dim", state["mask_token"].shape[-1])
    arch.setdefault("encoder_depth", _depth(state, "encoder"))
    arch.setdefault("decoder_depth", _depth(state, "decoder"))
    arch.setdefault("qkv_bias", "encoder.0.attn.qkv.bias" in state)
    arch.setdefault("proj_bias", "encoder.0.attn.proj.bias" in state)
    arch.setdefault("mlp_bias", "encoder.0.mlp.fc1.bias" in state)
    arch.setdefault("gated_mlp", "encoder.0.mlp.fc3.weight" in state)
    arch.setdefault("qk_norm", "encoder.0.attn.q_norm.weight" in state)
    arch.setdefault("mlp_ratio", 4.0)
    bias = state.get("encoder_norm.bias")
    arch.setdefault("norm_bias", bias is not None and bool(bias.any()))
    act = ref.get("act_layer") or ("SiLU" if arch["gated_mlp"] else "GELU")
    arch["act"] = str(act).lower()
    hidden = state["encoder.0.mlp.fc1.weight"].shape[0] if "encoder.0.mlp.fc1.weight" in state else None
    if hidden is not None and hidden != mlp_hidden_dim(arch["dim"], arch["mlp_ratio"], arch["gated_mlp"]):
        raise ConfigError(f"MLP hidden width {hidden} does not match dim/mlp_ratio/gated_mlp {arch}")
    return arch


def _infer_spec(name: str, base: ModalitySpec, state: Mapping[str, torch.Tensor]) -> ModalitySpec:
    """Correct a registry spec by the checkpoint's tensor shapes (vocabulary, token count, widths)."""
    changes: dict[str, Any] = {}
    for side in ("encoder", "decoder"):
        for head in ("token_emb", "to_logits"):
            w = state.get(f"{side}_embeddings.{name}.{head}.weight")
            if w is not None:
                changes["vocab_size"] = w.shape[0]
    enc = f"encoder_embeddings.{name}."
    if enc + "emb_proj.weight" in state:
        changes.update(kind="embedding_sequence", vocab_size=0, input_dim=state[enc + "emb_proj.weight"].shape[1])
    elif enc + "proj.weight" in state:
        features = state[enc + "proj.weight"].shape[1]
        patch = round((features / base.channels) ** 0.5)
        if base.channels * patch * patch != features:
            raise ConfigError(f"{name}: patch projection width {features} does not fit {base.channels} channels")
        changes.update(kind="pixels", patch_size=patch, vocab_size=0)
    if base.positional and not base.is_vectors:
        pos = state.get(enc + "pos_emb", state.get(f"decoder_embeddings.{name}.pos_emb"))
        n = pos.shape[1] if pos is not None else base.num_tokens
        if base.grid is not None and base.grid[0] * base.grid[1] != n:
            side = round(n**0.5)
            if side * side != n:
                raise ConfigError(f"{name}: {n} positions do not form a square grid; pass specs={{...}}")
            changes["grid"] = (side, side)
        changes["num_tokens"] = n
    return base.with_(**changes)


def fm_config(
    ref: Mapping[str, Any],
    state: Mapping[str, torch.Tensor],
    specs: Mapping[str, ModalitySpec] | None = None,
    inputs: Sequence[str] | None = None,
    outputs: Sequence[str] | None = None,
    **fields: Any,
) -> ModelConfig:
    """The omnimask ModelConfig of a reference checkpoint (modalities written out in full).

    ``inputs`` / ``outputs`` keep only some of the checkpoint's modalities (the others' embeddings
    and output heads are then never built or loaded: a run that needs RGB→depth skips the rest).
    """
    arch = _infer_arch(ref, state)
    registry = fourm21_modalities()
    given = dict(specs or {})
    inputs = _subset(list(ref["domains_in"]), inputs, "inputs")
    outputs = _subset(list(ref["domains_out"]), outputs, "outputs")
    resolved: dict[str, ModalitySpec] = {}
    for name in dict.fromkeys(inputs + outputs):
        base = given.get(name) or registry.get(name)
        if base is None:
            raise ConfigError(
                f"modality {name!r} is not in the 4M-21 registry; pass specs={{{name!r}: ModalitySpec(...)}}"
            )
        resolved[name] = base if name in given else _infer_spec(name, base, state)
    block = dataclasses.replace(RELEASED_BLOCK, **{k: arch.pop(k) for k in BLOCK_FIELDS if k in arch})
    return config_for_specs(resolved, inputs, outputs, size=None, block=block, **arch, **fields)


def _subset(available: list[str], wanted: Sequence[str] | None, role: str) -> list[str]:
    if wanted is None:
        return available
    unknown = [m for m in wanted if m not in available]
    if unknown:
        raise ConfigError(f"{role} {unknown} are not in this checkpoint; it has {available}")
    return list(wanted)


# ---------------------------------------------------------------------------------------------
# Converting weights
# ---------------------------------------------------------------------------------------------
def _modality_of(key: str) -> str:
    return key.split(".")[1]


def convert_state_dict(
    model: FourM, state: Mapping[str, torch.Tensor]
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """Reference state dict -> (our state dict, fixed position tables keyed by adapter path)."""
    expected = model.state_dict()
    ours: dict[str, torch.Tensor] = {}
    tables: dict[str, torch.Tensor] = {}
    sides = {"encoder_embeddings": set(model.input_modalities), "decoder_embeddings": set(model.output_modalities)}
    for key, value in state.items():
        side = key.split(".")[0]
        if side in sides and _modality_of(key) not in sides[side]:
            continue  # a modality this model was built without
        value = value.to(torch.float32) if value.is_floating_point() else value
        if key.endswith(".mod_emb"):
            new = f"mod_emb.{_modality_of(key)}"
            value = value.reshape(-1)
            if new in ours and not torch.equal(ours[new], value):
                raise ValueError(
                    f"{key}: encoder and decoder modality embeddings differ; unshared ones are unsupported"
                )
            ours[new] = value
        elif key == "mask_token":
            ours[key] = value.reshape(-1)
        elif key.endswith(".pos_emb"):
            if key in expected:  # learned positions (global tokens)
                ours[key] = value.reshape(expected[key].shape)
            else:
                tables[key.removesuffix(".pos_emb")] = value.reshape(value.shape[-2], value.shape[-1])
        elif key in expected:
            ours[key] = value
        elif key.endswith(".bias") and not bool(value.any()):
            continue  # zero LayerNorm-bias buffer of the no-bias variant
        elif key.startswith("decoder_embeddings.") and key.endswith(".token_emb.weight"):
            continue  # image decoders read the mask token; the reference never uses this table
        else:
            raise ValueError(f"checkpoint key {key!r} has no place in the omnimask model")
    return ours, tables


def load_fm(
    path: str | Path,
    *,
    specs: Mapping[str, ModalitySpec] | None = None,
    inputs: Sequence[str] | None = None,
    outputs: Sequence[str] | None = None,
    dtype: torch.dtype = torch.float32,
    **fields: Any,
) -> FourM:
    """Load a released 4M checkpoint (directory or ``.safetensors`` file) as a FourM.

    Args:
        path: checkpoint directory (``config.json`` + ``model.safetensors``) or the weights file.
        specs: specs for modalities missing from (or wrong in) the 4M-21 registry; used as given.
        inputs / outputs: load only these modalities' embeddings and heads (default: all of them).
        dtype: parameter dtype after loading (``torch.bfloat16`` halves the memory).
        fields: further ModelConfig fields, e.g. ``loss_denominator="all_present"`` to reproduce the
            reference loss exactly.
    """
    ref, state = read_fm_checkpoint(path)
    config = fm_config(ref, state, specs, inputs, outputs, **fields)
    with torch.device("meta"):  # shapes first: a config that does not fit the weights allocates nothing
        skeleton = FourM(config)
    converted, _ = convert_state_dict(skeleton, state)
    check_shapes(Path(path), {k: tuple(v.shape) for k, v in skeleton.state_dict().items()},
                 {k: tuple(v.shape) for k, v in converted.items()})
    model = FourM(config)
    ours, tables = convert_state_dict(model, state)
    model.load_state_dict(ours, strict=True)
    with torch.no_grad():
        for where, table in tables.items():
            pos_emb = model.get_submodule(where).pos_emb
            assert isinstance(pos_emb, torch.Tensor)  # an adapter's position table (buffer or parameter)
            if pos_emb.shape != table.shape:
                raise ValueError(f"{where}.pos_emb: stored {tuple(table.shape)} vs model {tuple(pos_emb.shape)}")
            pos_emb.copy_(table)  # the reference's own float32 table, bit for bit
    return model.to(dtype).eval()


# ---------------------------------------------------------------------------------------------
# Converting batches
# ---------------------------------------------------------------------------------------------
def _tensor(value: Any) -> torch.Tensor:
    t = torch.as_tensor(np.asarray(value)) if not isinstance(value, torch.Tensor) else value
    if t.is_floating_point():
        return t.to(torch.float32)
    return t.to(torch.int64) if t.dtype != torch.bool else t


def batch_from_reference(mod_dict: Mapping[str, Mapping[str, Any]]) -> Batch:
    """A reference mod_dict (``tensor``, ``input_mask``, ``target_mask``; True = NOT used) -> Batch.

    ``decoder_attention_mask`` is not needed: the attention pattern follows from the modality kind.
    """
    batch: Batch = {}
    for name, fields in mod_dict.items():
        batch[name] = ModalityBatch(
            tensor=_tensor(fields["tensor"]),
            input_keep=~_tensor(fields["input_mask"]).bool(),
            target_keep=~_tensor(fields["target_mask"]).bool(),
        )
    return batch


def batch_to_reference(batch: Batch) -> dict[str, dict[str, torch.Tensor]]:
    """The inverse of :func:`batch_from_reference` (masks flipped back to True = not used)."""
    return {
        name: {"tensor": mb.tensor, "input_mask": ~mb.input_keep, "target_mask": ~mb.target_keep}
        for name, mb in batch.items()
    }
