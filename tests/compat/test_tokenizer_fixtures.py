"""Released-4M tokenizers against the reference fixtures (fixture README §9–11).

Every ``cases/tokenizer_*.json`` + ``.npz`` pair of the fixture directory is run; which checks apply
is read off the case's own arrays and side-car settings, never from hard-coded case names. The
directory defaults to ``<repo>/../shared/fixtures/reference-4m`` and can be moved with
``OMNIMASK_REFERENCE_FIXTURES``; without it the tests skip. Tolerances (README §11): token ids
identical; latents, quantized vectors, reconstructions, denoiser and DDIM outputs ≤ 1e-4 absolute.

The last tests check the loader without the fixtures: a synthetic single-file release (config in the
safetensors metadata) and the refusal of options omnimask does not implement.
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from reference_paths import FIXTURES
from safetensors.torch import save_file

from omnimask.compat.tokenizers import config_from_release, load_released_tokenizer, register_presets
from omnimask.tokenizers.base import ModalityTokenizer
from omnimask.tokenizers.diffusion.ddim import ddim_timesteps
from omnimask.tokenizers.diffusion.divae import DiVAE
from omnimask.tokenizers.diffusion.unet import timestep_embedding
from omnimask.tokenizers.vit import ViTDecoder, ViTEncoder
from omnimask.tokenizers.vqvae import SpatialVQVAE

ATOL = 1e-4

CASES = sorted((FIXTURES / "cases").glob("tokenizer_*.json")) if FIXTURES.is_dir() else []
_RESIZED = re.compile(r"^(encoder|decoder)\.pos_emb_resized_(\d+)x(\d+)$")


def _checks(case_json: Path) -> list[str]:
    """The checks a case supports, derived from the names of its arrays."""
    keys = set(np.load(case_json.with_suffix(".npz")).keys())
    checks = []
    for key in sorted(k for k in keys if k == "input" or k.endswith(".input")):
        prefix = key[: -len("input")]
        checks.append(f"encode:{prefix}")
        if any(k.startswith(prefix + "recon") for k in keys):
            checks.append(f"decode:{prefix}")
    by_array = {
        "denoise.output": "denoise",
        "denoise.output_masked": "denoise_masked",
        "ddim.output": "ddim",
        "unet.timestep_embedding": "timestep_embedding",
    }
    checks += [check for key, check in by_array.items() if key in keys]
    if any(k.endswith(".pos_emb") for k in keys):
        checks.append("posemb")
    return checks


PARAMS = [pytest.param(c, check, id=f"{c.stem}-{check.rstrip(':.')}") for c in CASES for check in _checks(c)]
if not PARAMS:
    PARAMS = [pytest.param(None, None, marks=pytest.mark.skip(reason=f"no tokenizer fixtures at {FIXTURES}"))]


@functools.cache
def _tokenizer(name: str) -> ModalityTokenizer:
    register_presets(FIXTURES / "presets.json")
    return load_released_tokenizer(FIXTURES / "tokenizers" / name)


@functools.cache
def _case(case_json: Path) -> tuple[dict, dict[str, torch.Tensor]]:
    arrays = {k: torch.from_numpy(v) for k, v in np.load(case_json.with_suffix(".npz")).items()}
    return json.loads(case_json.read_text()), arrays


def _close(name: str, ours: torch.Tensor, ref: torch.Tensor, atol: float = ATOL) -> None:
    assert ours.shape == ref.shape, f"{name}: shape {tuple(ours.shape)} vs reference {tuple(ref.shape)}"
    diff = (ours.double() - ref.double()).abs().max().item()
    assert diff <= atol, f"{name}: max abs diff {diff:.3g} > {atol}"


def _input(arrays: dict[str, torch.Tensor], prefix: str) -> torch.Tensor:
    x = arrays[prefix + "input"]
    return x.float() if x.is_floating_point() else x  # float16 inputs are float16-exact float32 values


@pytest.mark.parametrize(("case_json", "check"), PARAMS)
@torch.no_grad()
def test_tokenizer_case(case_json: Path, check: str) -> None:
    meta, arrays = _case(case_json)
    tok = _tokenizer(meta["tokenizer"])
    model = tok.model
    kind, _, prefix = check.partition(":")
    vector = tok.card.input.layout == "vector"
    if kind == "encode":
        x = _input(arrays, prefix)
        latent = model.latent(x)
        q = model.quantize(latent)
        if prefix + "latent" in arrays:
            _close("latent", latent, arrays[prefix + "latent"])
        if prefix + "quant" in arrays:
            _close("quant", q.quantized, arrays[prefix + "quant"])
        ref_ids = arrays[prefix + "tokens"]
        assert torch.equal(q.ids, ref_ids), f"{(q.ids != ref_ids).sum()} token ids differ"
        raw = x.reshape(x.shape[0], -1) if vector else x
        assert torch.equal(tok.tokenize(raw), ref_ids.reshape(ref_ids.shape[0], -1))
    elif kind == "decode":
        _check_decode(tok, arrays, prefix)
    elif kind.startswith("denoise"):
        assert isinstance(model, DiVAE)
        x, noisy, t = _input(arrays, ""), arrays["denoise.input_noised"].float(), arrays["denoise.timesteps"]
        if kind == "denoise":
            _close("denoise", model(x, noisy, t), arrays["denoise.output"])
        else:
            mask = arrays["denoise.cond_mask"]  # reference polarity: True = latent zeroed
            n = mask.shape[0]
            _close("denoise masked", model(x[:n], noisy[:n], t[:n], cond_keep=~mask), arrays["denoise.output_masked"])
    elif kind == "ddim":
        _check_ddim(model, meta["cases"]["ddim"], arrays)
    elif kind == "timestep_embedding":
        ref = arrays["unet.timestep_embedding"]
        _close("timestep embedding", timestep_embedding(arrays["denoise.timesteps"], ref.shape[1]), ref, 1e-6)
    elif kind == "posemb":
        _check_posemb(model, arrays)
    else:  # pragma: no cover - _checks only yields the kinds above
        raise AssertionError(check)


def _check_decode(tok: ModalityTokenizer, arrays: dict[str, torch.Tensor], prefix: str) -> None:
    ids = arrays[prefix + "tokens"]
    recon = tok.model.decode_tokens(ids.reshape(ids.shape[0], -1) if tok.card.input.layout == "vector" else ids)
    for key, ref in arrays.items():
        if not key.startswith(prefix + "recon"):
            continue
        what = key[len(prefix) :]
        if what == "recon":
            _close(what, recon.reshape(ref.shape), ref)
        elif m := re.fullmatch(r"recon_sub(\d+)", what):
            s = int(m[1])
            _close(what, recon[..., ::s, ::s], ref)
        elif what == "recon_mean":
            _close(what, recon.double().mean(dim=(2, 3)), ref)
        elif what == "recon_argmax":
            ours = tok.detokenize(ids)
            top2 = recon.topk(2, dim=1).values
            ambiguous = (top2[:, 0] - top2[:, 1]) <= ATOL
            differ = ours.long() != ref.long()
            assert not (differ & ~ambiguous).any(), f"{int(differ.sum())} argmax pixels differ"
        else:
            raise AssertionError(f"unknown reconstruction array {key}")


def _check_ddim(model: DiVAE, settings: dict, arrays: dict[str, torch.Tensor]) -> None:
    steps, mode = settings["num_inference_steps"], settings["timestep_mode"]
    plan = ddim_timesteps(steps, model.schedule.num_train_timesteps, mode)
    assert plan == arrays["ddim.timesteps"].tolist()
    _close("alphas_cumprod", model.schedule.alphas_cumprod, arrays["ddim.alphas_cumprod"], 1e-6)
    noise = arrays["ddim.noise"]
    drawn = torch.randn(noise.shape, generator=torch.Generator().manual_seed(settings["generator_seed"]))
    assert torch.equal(drawn, noise), "the seeded CPU generator no longer draws the stored noise"
    size = settings.get("image_size")
    out = model.decode_tokens(
        arrays["ddim.tokens"], num_steps=steps, spacing=mode, eta=settings.get("eta", 0.0), noise=noise,
        image_size=(size, size) if size else None,
    )  # fmt: skip
    _close("ddim", out, arrays["ddim.output"])


def _check_posemb(model: torch.nn.Module, arrays: dict[str, torch.Tensor]) -> None:
    parts = {"encoder": model.encoder, "decoder": getattr(model, "decoder", None)}
    for key, ref in arrays.items():
        if key.endswith(".pos_emb"):
            module = parts[key.split(".")[0]]
            assert torch.equal(module.pos_emb, ref)
        elif m := _RESIZED.match(key):
            module = parts[m[1]]
            assert isinstance(module, ViTEncoder | ViTDecoder)
            h, w = int(m[2]), int(m[3])
            ours = module.position_table((h, w)).t().reshape(1, -1, h, w)
            _close(key, ours, ref, 1e-6)


@pytest.mark.skipif(not CASES, reason=f"no tokenizer fixtures at {FIXTURES}")
@pytest.mark.parametrize(
    "name", sorted(p.name for p in (FIXTURES / "tokenizers").glob("*") if p.is_dir()) if CASES else []
)
def test_both_layouts_load_identical_weights(name: str) -> None:
    hub = _tokenizer(name)
    single = load_released_tokenizer(FIXTURES / "tokenizers" / name / "model.safetensors")
    assert hub.card.model == single.card.model
    ours, theirs = hub.model.state_dict(), single.model.state_dict()
    assert ours.keys() == theirs.keys()
    assert all(torch.equal(ours[k], theirs[k]) for k in ours)


# ---- fixture-independent checks of the loader ---------------------------------------------------

TINY_PRESETS = {
    "_comment": "skipped",
    "tiny_enc": {"class": "ViTEncoder", "dim": 32, "depth": 1, "num_heads": 2, "mlp_ratio": 4.0, "qkv_bias": True,
                 "norm_eps": 1e-6},
    "tiny_dec": {"class": "ViTDecoder", "dim": 32, "depth": 1, "num_heads": 2, "mlp_ratio": 4.0, "qkv_bias": True,
                 "norm_eps": 1e-6},
}  # fmt: skip
TINY_RELEASE = {"image_size": 32, "n_channels": 8, "n_labels": 5, "enc_type": "tiny_enc", "dec_type": "tiny_dec",
                "patch_size": 8, "post_mlp": True, "quant_type": "lucid", "codebook_size": 16, "latent_dim": 4,
                "num_codebooks": 1, "norm_codes": True, "image_size_dec": None, "out_conv": False}  # fmt: skip


def _to_reference_keys(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k.replace("quantize.", "quantize._codebook.", 1) if k.startswith("quantize.") else k: v.half()
            for k, v in state.items()}  # fmt: skip


def test_single_file_release_with_metadata_config_loads(tmp_path):
    assert register_presets(TINY_PRESETS) == ["tiny_enc", "tiny_dec"]
    reference = config_from_release(TINY_RELEASE)
    torch.manual_seed(0)  # parameter init only
    source = SpatialVQVAE(reference).eval()
    path = tmp_path / "semseg.safetensors"
    save_file(_to_reference_keys(source.state_dict()), str(path), metadata={k: str(v) for k, v in TINY_RELEASE.items()})
    tok = load_released_tokenizer(path)
    assert (tok.card.modality, tok.card.output, tok.card.name, tok.card.source) == (
        "semseg",
        "class_logits",
        "semseg",
        "ml-4m release",
    )
    labels = torch.randint(0, 5, (1, 32, 32), generator=torch.Generator().manual_seed(0)).to(torch.uint8)
    source.load_state_dict({k: v.half().float() for k, v in source.state_dict().items()})  # the float16 round trip
    with torch.no_grad():
        assert torch.equal(tok.tokenize(labels), source.tokenize(labels).flatten(1))
        assert torch.equal(tok.detokenize(tok.tokenize(labels)), source(labels).recon.argmax(1).to(torch.uint8))


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"norm_codes": False}, "Euclidean"),
        ({"out_conv": True}, "out_conv"),
        ({"quant_type": "fsq"}, "quant_type"),
        ({"enc_type": "vit_xxl_enc"}, "register_presets"),
        ({"dec_type": "tiny_enc", "beta_schedule": "linear"}, "not a ViT|patched-UNet"),
    ],
)
def test_unsupported_release_options_are_refused(change, match):
    register_presets(TINY_PRESETS)
    with pytest.raises((ValueError, KeyError), match=match):
        config_from_release({**TINY_RELEASE, **change})


def test_bad_presets_and_missing_checkpoints_are_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="'class' must be one of"):
        register_presets({"x": {"class": "ResNet"}})
    with pytest.raises(FileNotFoundError, match="no tokenizer checkpoint"):
        load_released_tokenizer(tmp_path / "absent.safetensors")
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(FileNotFoundError, match=r"no model\.safetensors"):
        load_released_tokenizer(tmp_path)


def test_a_released_tokenizer_config_that_does_not_fit_its_weights_is_refused_before_building(tmp_path):
    import json
    import shutil

    source = FIXTURES / "tokenizers" / "semseg_vqvae"
    if not (source / "config.json").is_file():
        pytest.skip(f"no tokenizer fixtures at {FIXTURES}")
    register_presets(FIXTURES / "presets.json")
    shutil.copytree(source, tmp_path / "semseg_vqvae")
    config = json.loads((tmp_path / "semseg_vqvae" / "config.json").read_text())
    config["codebook_size"] = 4_000_000  # the weights hold 256 codes
    (tmp_path / "semseg_vqvae" / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match=r"does not describe .*shapes differ"):
        load_released_tokenizer(tmp_path / "semseg_vqvae")
