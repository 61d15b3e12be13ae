"""A tiny randomly initialised 4M model and conditions shared by the generation tests."""

from __future__ import annotations

import pytest
import torch

from omnimask.batch import Batch
from omnimask.generation.state import full_condition, sequence_from_ids
from omnimask.modalities import ModalitySpec
from omnimask.model import FourM, config_for_specs

SPECS = {
    "rgb": ModalitySpec(name="rgb", kind="pixels", num_tokens=9, grid=(3, 3), patch_size=4),
    "tok_a": ModalitySpec(name="tok_a", kind="image_tokens", vocab_size=24, num_tokens=9, grid=(3, 3), patch_size=4),
    "tok_b": ModalitySpec(name="tok_b", kind="image_tokens", vocab_size=20, num_tokens=9, grid=(3, 3), patch_size=4),
    "cap": ModalitySpec(name="cap", kind="sequence", vocab_size=48, num_tokens=10, max_length=10),
    "glob": ModalitySpec(name="glob", kind="global_tokens", vocab_size=12, num_tokens=3),
}
ARCH = {"size": None, "dim": 32, "encoder_depth": 2, "decoder_depth": 2, "num_heads": 2}


@pytest.fixture(scope="session")
def model() -> FourM:
    torch.manual_seed(0)
    m = FourM(config_for_specs(SPECS, **ARCH)).eval()
    with torch.no_grad():  # break the init's symmetry so logits have clear argmaxes
        for p in m.parameters():
            p.add_(torch.randn(p.shape, generator=torch.Generator().manual_seed(p.numel())) * 0.2)
    return m


@pytest.fixture()
def conditions() -> Batch:
    """B = 2: an RGB image and a short caption (``[EOS]``-terminated)."""
    g = torch.Generator().manual_seed(1)
    ids, lengths = sequence_from_ids([[210 % 48, 20, 31], [40, 22]])
    return {
        "rgb": full_condition(SPECS["rgb"], torch.randn(2, 3, 12, 12, generator=g)),
        "cap": full_condition(SPECS["cap"], ids, lengths),
    }
