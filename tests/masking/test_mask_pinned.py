"""Masking outputs pinned to values recorded before the masking speed-ups: same (seed, sample) → same bits.

The digests below were recorded with the straightforward implementation (commit df08aff; the low-id
digest with that commit's code too). Any change to what is drawn — a different order of generator
calls, another budget rule, a dtype change — breaks them. If a change of the *method* is intended,
record new values and say so in the commit.
"""

import hashlib

import numpy as np
import pytest

from omnimask.masking import AlphaMixture, Masker, MaskingConfig, ModalityAlphas, all2all, combine_mixtures, rgb2all
from omnimask.modalities import ModalitySpec

SPECS = {
    s.name: s
    for s in [
        ModalitySpec(name="rgb@32", kind="pixels", num_tokens=16, grid=(4, 4), patch_size=8),
        ModalitySpec(name="tok_rgb@32", kind="image_tokens", vocab_size=512, num_tokens=16, grid=(4, 4), patch_size=8),
        ModalitySpec(name="tok_depth@32", kind="image_tokens", vocab_size=64, num_tokens=16, grid=(4, 4), patch_size=8),
        ModalitySpec(name="tok_global", kind="global_tokens", vocab_size=32, num_tokens=4),
        ModalitySpec(name="caption", kind="sequence", vocab_size=2048, num_tokens=12, max_length=12),
        ModalitySpec(name="det", kind="sequence", vocab_size=2048, num_tokens=20, max_length=20),
        ModalitySpec(name="metadata", kind="sequence", vocab_size=2048, num_tokens=10, max_length=10),
        ModalitySpec(name="t5_emb", kind="embedding_sequence", num_tokens=8, input_dim=3),
    ]
}
NAMES = list(SPECS)


def make_sample(rng: np.random.Generator, i: int, low: int = 300) -> dict:
    """Samples of every kind; sequences alternate between flat ids and chunk lists; some modalities absent.

    Sequence ids are drawn from ``[low, 2048)``; ``low`` below 204 puts raw ids in the sentinel range.
    """
    sample = {
        "rgb@32": rng.standard_normal((3, 32, 32)).astype(np.float32),
        "tok_rgb@32": rng.integers(0, 512, 16),
        "tok_depth@32": rng.integers(0, 64, (4, 4)),
        "tok_global": rng.integers(0, 32, 4),
        "caption": rng.integers(low, 2048, int(rng.integers(0, 15))),
        "det": [rng.integers(low, 2048, int(rng.integers(1, 6))) for _ in range(int(rng.integers(1, 5)))],
        "metadata": [rng.integers(low, 2048, 2).tolist() for _ in range(int(rng.integers(0, 6)))],
        "t5_emb": rng.standard_normal((int(rng.integers(1, 9)), 3)),
    }
    if i % 2:
        sample["caption"] = [sample["caption"][:3], sample["caption"][3:]] if len(sample["caption"]) > 3 else []
        sample["det"] = np.concatenate(sample["det"])
    if i % 5 == 3:
        del sample[NAMES[i % len(NAMES)]]
    return sample


def mixture_multi() -> AlphaMixture:
    """Three weighted components with every keep scheme."""
    base = combine_mixtures(
        [(rgb2all(0.5, NAMES, rgb="rgb@32"), 1.0), (all2all(0.5, NAMES, input_only=["rgb@32", "t5_emb"]), 2.0)]
    )
    mods = dict(base.modalities)
    for name in ("caption", "det", "metadata"):
        a = mods[name]
        mods[name] = ModalityAlphas(
            input_alphas=(*a.input_alphas, 1.0), target_alphas=(*a.target_alphas, 0.2), keep=("binary", "all", "random")
        )
    for name in NAMES:
        if name not in ("caption", "det", "metadata"):
            a = mods[name]
            tgt = 0.0 if name in ("rgb@32", "t5_emb") else 3.0
            mods[name] = ModalityAlphas(input_alphas=(*a.input_alphas, 0.1), target_alphas=(*a.target_alphas, tgt))
    return AlphaMixture(modalities=mods, sampling_weights=(1.0, 2.0, 0.5))


CONFIGS = {
    "all2all_rgb2all": MaskingConfig(
        num_input_tokens=24,
        num_target_tokens=24,
        mixture=combine_mixtures(
            [rgb2all(0.5, NAMES, rgb="rgb@32"), all2all(0.5, NAMES, input_only=["rgb@32", "t5_emb"])]
        ),
    ),
    "ranges_three_components": MaskingConfig(
        num_input_tokens=4,
        num_input_tokens_max=60,
        num_target_tokens=0,
        num_target_tokens_max=50,
        mixture=mixture_multi(),
        keep_prob_decay=0.5,
        max_tokens={"det": 14},
    ),
}

#: sha256 of every output of 120 samples per config (recorded before the speed-ups).
DIGESTS = {
    "all2all_rgb2all": "706af16421f8043d3152ba7f615dd1bdeb34c95b89f0f232ccf81e1b034739c1",
    "ranges_three_components": "69860e2d6bbc63c66e417e154e099e8dc080bad6a0900922477c6655a9834991",
}

#: The same for "all2all_rgb2all" with sequence ids from 4 on (many look like sentinels).
LOW_IDS_DIGEST = "60931f5a3ac4f73c13002cbcdd5645fec495bdbb1965627d0da51cb4e05f2c5e"


def digest_outputs(outputs: list[dict]) -> str:
    h = hashlib.sha256()
    for out in outputs:
        for name, m in out.items():
            h.update(name.encode())
            for array in (m.tensor, m.input_keep, m.target_keep):
                h.update(f"{array.dtype.str}{array.shape}".encode())
                h.update(np.ascontiguousarray(array).tobytes())
            h.update(f"{m.input_budget},{m.target_budget};".encode())
    return h.hexdigest()


def masked(config: str, n: int = 120, low: int = 300) -> list[dict]:
    masker = Masker(SPECS, CONFIGS[config])
    data = np.random.default_rng(2024)
    samples = [make_sample(data, i, low) for i in range(n)]
    shared = np.random.default_rng([7, 1])  # one generator across samples, as a loader worker uses it
    out = [masker(s, shared) for s in samples[: n // 2]]
    return out + [masker(s, 1000 + i) for i, s in enumerate(samples[n // 2 :])]  # a seed per sample


@pytest.mark.parametrize("config", sorted(CONFIGS))
def test_masked_outputs_match_the_recorded_digest(config):
    assert digest_outputs(masked(config)) == DIGESTS[config]


def test_raw_ids_in_the_sentinel_range_match_the_recorded_digest():
    assert digest_outputs(masked("all2all_rgb2all", low=4)) == LOW_IDS_DIGEST


def test_a_few_outputs_match_recorded_values():
    out = masked("all2all_rgb2all", 4)
    got = {
        name: (np.flatnonzero(m.input_keep).tolist(), np.flatnonzero(m.target_keep).tolist(), m.tensor.tolist())
        for name, m in out[0].items()
        if name in ("tok_rgb@32", "caption", "det")
    }
    assert got == PINNED_SAMPLE_0


PINNED_SAMPLE_0: dict = {
    "tok_rgb@32": ([], [0, 1, 4, 11, 13], [470, 294, 238, 227, 220, 52, 11, 359, 66, 487, 375, 360, 160, 57, 250, 165]),
    "caption": ([], [0, 1], [5, 790] + [0] * 24),
    "det": ([0], [8, 9, 10, 11, 12, 13], [5] + [0] * 7 + [5, 962, 1904, 642, 1888, 3] + [0] * 28),
}
