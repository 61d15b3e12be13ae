"""Shared fixtures of the evaluation tests: a few 16-px SynthWorld scenes, a tiny random 4M and a
k-means tokenizer bundle fitted on them (tiny models run single-threaded: on a shared CPU more
threads only add contention). Test doubles live in ``eval_doubles.py``."""

from __future__ import annotations

import pytest
import torch
from eval_doubles import ARCH, GLOBAL_NAME

from omnimask.data.synth_tokens import fit_synth_tokenizer
from omnimask.data.synthworld import SynthWorldConfig, render_sample
from omnimask.modalities import ModalitySpec, synthworld_modalities
from omnimask.model import FourM, config_for_specs

RES = 16


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def scenes() -> list[dict]:
    cfg = SynthWorldConfig(resolution=RES)
    return [render_sample(5, i, cfg) for i in range(4)]


@pytest.fixture(scope="session")
def specs() -> dict[str, ModalitySpec]:
    base = synthworld_modalities(resolution=RES, patch=4, vocab=16)
    keep = ["rgb@16", "tok_rgb@16", "tok_depth@16", "tok_normal@16", "tok_semseg@16", "caption", "det"]
    out = {n: base[n] for n in keep}
    out[GLOBAL_NAME] = ModalitySpec(name=GLOBAL_NAME, kind="global_tokens", vocab_size=16, num_tokens=2,
                                    tokenizer="clip_global")
    return out


@pytest.fixture(scope="session")
def bundle(specs, scenes) -> dict:
    """k-means map tokenizers and a WordPiece text tokenizer fitted on the four scenes (no global one)."""
    fitted = fit_synth_tokenizer({n: s for n, s in specs.items() if s.kind != "global_tokens"}, scenes, seed=0)
    return fitted.tokenizers


@pytest.fixture(scope="session")
def model(specs) -> FourM:
    return FourM(config_for_specs(specs, **ARCH, init_seed=3)).eval()
