"""compat.fm without fixtures: metadata decoding, config inference errors, batch conversion."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from omnimask.compat import batch_from_reference, batch_to_reference, load_fm, parse_metadata_value
from omnimask.compat.fm import fm_config
from omnimask.config import ConfigError
from omnimask.modalities import ModalitySpec
from omnimask.model import FourM, config_for_specs


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("['rgb@224', 'caption']", ["rgb@224", "caption"]),
        ("True", True),
        ("4.0", 4.0),
        ("64", 64),
        ("SiLU", "SiLU"),
        ("None", None),
        ("[None, 'a']", [None, "a"]),
        ("!!python/object/apply:os.system ['echo owned']", "!!python/object/apply:os.system ['echo owned']"),
        ("x" * 10_001, "x" * 10_001),
    ],
)
def test_metadata_values_decode_like_the_reference(text, value):
    assert parse_metadata_value(text) == value


def test_batch_polarity_round_trip():
    ref = {
        "caption": {
            "tensor": np.array([[5, 7, 0]], dtype=np.int32),
            "input_mask": np.array([[False, True, True]]),
            "target_mask": np.array([[True, False, False]]),
        },
        "rgb@224": {
            "tensor": np.zeros((1, 3, 4, 4), np.float16),
            "input_mask": np.array([[False]]),
            "target_mask": np.array([[True]]),
        },
    }
    batch = batch_from_reference(ref)
    assert batch["caption"].tensor.dtype == torch.int64 and batch["rgb@224"].tensor.dtype == torch.float32
    assert batch["caption"].input_keep.tolist() == [[True, False, False]]
    assert batch["caption"].target_keep.tolist() == [[False, True, True]]
    back = batch_to_reference(batch)
    np.testing.assert_array_equal(back["caption"]["input_mask"].numpy(), ref["caption"]["input_mask"])


def reference_like_checkpoint(tmp_path, **config_changes):
    """A tiny FourM saved under the reference's key names (the released layout) with a metadata config."""
    spec = ModalitySpec(name="tok_rgb@224", kind="image_tokens", vocab_size=16, num_tokens=196, grid=(14, 14))
    model = FourM(
        config_for_specs({"tok_rgb@224": spec}, size=None, dim=32, encoder_depth=1, decoder_depth=1, num_heads=2)
    )
    state = {}
    for key, value in model.state_dict().items():
        if key.startswith("mod_emb."):
            for side in ("encoder", "decoder"):
                state[f"{side}_embeddings.{key[8:]}.mod_emb"] = value.reshape(1, 1, -1).clone()
        elif key == "mask_token":
            state[key] = value.reshape(1, 1, -1)
        else:
            state[key] = value.half()
    for side in ("encoder", "decoder"):
        table = model.get_submodule(f"{side}_embeddings.tok_rgb@224").pos_emb
        state[f"{side}_embeddings.tok_rgb@224.pos_emb"] = table[None]
    state["encoder_norm.bias"] = torch.zeros(32)
    state["decoder_embeddings.tok_rgb@224.token_emb.weight"] = torch.randn(16, 32)
    config = {
        "dim": 32,
        "encoder_depth": 1,
        "decoder_depth": 1,
        "num_heads": 2,
        "domains_in": ["tok_rgb@224"],
        "domains_out": ["tok_rgb@224"],
        "gated_mlp": True,
        "act_layer": "SiLU",
        "mlp_ratio": 4.0,
        "qkv_bias": False,
        "proj_bias": False,
        "mlp_bias": False,
        "norm_bias": False,
        "image_size": 224,
        "patch_size": 16,
        **config_changes,
    }
    path = tmp_path / "model.safetensors"
    save_file(state, str(path), metadata={k: str(v) for k, v in config.items()})
    return model, path


def test_reference_layout_loads_and_infers_vocabulary(tmp_path):
    model, path = reference_like_checkpoint(tmp_path)
    loaded = load_fm(path)
    assert loaded.specs["tok_rgb@224"].vocab_size == 16
    ours = model.state_dict()
    for key, value in loaded.state_dict().items():
        torch.testing.assert_close(
            value, ours[key].half().float() if key.startswith(("encoder.", "decoder")) else value
        )


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"decoder_causal_mask": True}, "not supported"),
        ({"num_register_tokens": 4}, "not supported"),
        ({"something_new": 1}, "does not know"),
    ],
)
def test_unsupported_reference_configs_are_rejected(tmp_path, changes, message):
    _, path = reference_like_checkpoint(tmp_path, **changes)
    with pytest.raises(ConfigError, match=message):
        load_fm(path)


def test_missing_num_heads_is_explained():
    with pytest.raises(ConfigError, match="num_heads"):
        fm_config({"domains_in": ["caption"], "domains_out": ["caption"]}, {"mask_token": torch.zeros(1, 1, 64)})


def test_a_released_config_that_does_not_fit_its_weights_is_refused_before_building(tmp_path):
    import json
    import shutil

    from reference_paths import FIXTURES, SKIP_REASON

    if not (FIXTURES / "fm" / "config.json").is_file():
        pytest.skip(SKIP_REASON)
    folder = tmp_path / "fm"
    shutil.copytree(FIXTURES / "fm", folder)
    config = json.loads((folder / "config.json").read_text())
    config["decoder_depth"] = 400  # weights hold 2 decoder blocks
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match=r"does not describe .*tensors missing: decoder\.2\."):
        load_fm(folder)
