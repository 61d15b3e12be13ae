"""ModelConfig: size table, validation errors, modality resolution, JSON / override round trips."""

from __future__ import annotations

import dataclasses

import pytest

from omnimask.config import ConfigError, apply_overrides, from_dict, to_dict
from omnimask.modalities import ModalitySpec
from omnimask.model import SIZES, ModelConfig, config_for_specs
from omnimask.model.config import RELEASED_BLOCK


def test_size_table_head_dim_is_64():
    assert SIZES["B"] == {"dim": 768, "encoder_depth": 12, "decoder_depth": 12, "num_heads": 12}
    assert SIZES["L"]["dim"] == 1024 and SIZES["L"]["num_heads"] == 16 and SIZES["L"]["encoder_depth"] == 24
    assert SIZES["XL"]["dim"] == 2048 and SIZES["XL"]["num_heads"] == 32
    assert all(s["dim"] // s["num_heads"] == 64 for s in SIZES.values())


def test_resolve_fills_from_size_and_round_trips_as_json():
    cfg = ModelConfig(size="B", inputs=["rgb@224", "caption"], outputs=["caption", "tok_depth@224"])
    resolved = cfg.resolve()
    assert (resolved.dim, resolved.encoder_depth, resolved.num_heads) == (768, 12, 12)
    again = from_dict(ModelConfig, to_dict(resolved))
    assert again == resolved
    assert list(resolved.specs()) == ["rgb@224", "caption", "tok_depth@224"]


def test_cli_overrides_change_size_and_fields():
    cfg = apply_overrides(ModelConfig(), ["size=L", "block.qk_norm=true", "loss_denominator=all_present"])
    assert cfg.resolve().dim == 1024 and cfg.loss_denominator == "all_present"
    assert cfg.block.qk_norm and not cfg.block.qkv_bias  # the rest of the block keeps the released values
    with pytest.raises(ConfigError, match="loss_denominator"):
        apply_overrides(ModelConfig(), ["loss_denominator=sometimes"])


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"size": "huge"}, "unknown size 'huge'"),
        ({"size": "B", "dim": 512}, "conflicts with size 'B'"),
        ({"size": None, "dim": 64, "encoder_depth": 2, "decoder_depth": 2}, "num_heads must be set"),
        ({"size": None, "dim": 96, "encoder_depth": 2, "decoder_depth": 2, "num_heads": 5}, "divisible"),
        ({"size": None, "dim": 66, "encoder_depth": 2, "decoder_depth": 2, "num_heads": 1}, "multiple of 4"),
        ({"size": None, "dim": 64, "encoder_depth": 0, "decoder_depth": 2, "num_heads": 1}, "positive integer"),
        ({"block": {"mlp_ratio": 0.0}}, "mlp_ratio"),
        ({"block": {"act": "swish"}}, "unknown activation"),
        ({"drop_path": 1.0}, "drop_path"),
        ({"block": {"norm_eps": 0.0}}, "norm_eps"),
        ({"loss_denominator": "sometimes"}, "loss_denominator"),
        ({"modality_set": "nope"}, "unknown modality set"),
        ({"inputs": ["depth@224"]}, "unknown modalities"),
        ({"outputs": ["rgb@224"]}, "cannot be predicted"),
        ({"inputs": ["caption", "caption"]}, "twice"),
        ({"modality_overrides": {"caption": {"vocab": 3}}}, "unknown fields"),
        ({"modality_overrides": {"new": {"vocab_size": 3}}}, "full spec"),
        ({"modality_overrides": {"caption": {"vocab_size": 0}}}, "vocab_size > 0"),
    ],
)
def test_bad_values_are_rejected_with_clear_errors(fields, message):
    with pytest.raises(ConfigError, match=message):
        from_dict(ModelConfig, fields)


def test_flat_block_fields_of_older_files_are_read_into_block():
    old = {**to_dict(ModelConfig()), "qk_norm": True, "mlp_ratio": 2.0}
    del old["block"]
    cfg = from_dict(ModelConfig, old)
    assert cfg.block == dataclasses.replace(RELEASED_BLOCK, qk_norm=True, mlp_ratio=2.0)
    assert "qk_norm" not in to_dict(cfg) and to_dict(cfg)["block"]["qk_norm"] is True
    partial = from_dict(ModelConfig, {"block": {"qk_norm": True}})
    assert partial.block == dataclasses.replace(RELEASED_BLOCK, qk_norm=True)


def test_overrides_change_and_add_modalities():
    cfg = ModelConfig(
        inputs=["tok_rgb@224", "extra"],
        outputs=["tok_rgb@224"],
        modality_overrides={
            "tok_rgb@224": {"vocab_size": 1024},
            "extra": {"kind": "embedding_sequence", "num_tokens": 4, "input_dim": 8},
        },
    )
    specs = cfg.specs()
    assert specs["tok_rgb@224"].vocab_size == 1024 and specs["tok_rgb@224"].grid == (14, 14)
    assert specs["extra"].kind == "embedding_sequence"


def test_config_for_specs_writes_specs_out_in_full():
    spec = ModalitySpec(name="tok_a", kind="image_tokens", vocab_size=8, num_tokens=4, grid=(2, 2), patch_size=4)
    cfg = config_for_specs({"tok_a": spec})
    assert cfg.modality_set is None and cfg.specs() == {"tok_a": spec}
    assert from_dict(ModelConfig, to_dict(cfg)).specs() == {"tok_a": spec}
