"""Loading a saved model checks the config against the weights' header before allocating anything."""

from __future__ import annotations

import json
import resource

import pytest

from omnimask.model import FourM, ModelConfig, load_pretrained

SPECS = {"tok_a": {"kind": "image_tokens", "vocab_size": 16, "num_tokens": 16, "grid": [4, 4], "patch_size": 4}}


def test_a_hostile_config_is_refused_from_the_header_without_allocating(tmp_path):
    model = FourM(ModelConfig(size="tiny", modality_set=None, modality_overrides=SPECS))
    folder = model.save_pretrained(tmp_path / "m")
    assert isinstance(load_pretrained(folder), FourM)
    raw = json.loads((folder / "config.json").read_text())
    raw.update(size=None, dim=1_000_000, num_heads=2, encoder_depth=2, decoder_depth=2)
    (folder / "config.json").write_text(json.dumps(raw))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(ValueError, match=r"does not describe .*model.safetensors .*shapes differ.*by the config"):
        load_pretrained(folder)  # built for real this would be tens of GB
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 1_000_000  # KiB: under 1 GB more
