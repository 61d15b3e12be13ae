"""The released-4M compatibility path against the reference fixtures.

Every ``cases/forward_*.npz`` in the fixture directory is run, driven by the case file's own keys
(modalities from ``in.<m>.*``, outputs from ``out.<m>.*``). The directory defaults to
``<repo>/../shared/fixtures/reference-4m`` and can be overridden with ``OMNIMASK_REFERENCE_FIXTURES``;
without it these tests skip. Tolerances are the fixture README's (section 11).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from reference_paths import FIXTURES, SKIP_REASON

from omnimask.compat import batch_from_reference, load_fm, read_fm_checkpoint, read_metadata_config
from omnimask.model import FourM, Queries

FORWARD_CASES = sorted((FIXTURES / "cases").glob("forward_*.npz")) if FIXTURES.is_dir() else []


def close(actual: np.ndarray, expected: np.ndarray) -> float:
    """Assert |a - b| <= 1e-4 + 1e-4 |b| and return the max abs difference."""
    np.testing.assert_allclose(actual, expected, atol=1e-4, rtol=1e-4)
    return float(np.abs(actual - expected).max()) if expected.size else 0.0


def mod_dicts(arrays, prefix: str) -> dict[str, dict[str, np.ndarray]]:
    """``<prefix><modality>.<field>`` keys -> {modality: {field: array}} (names never contain dots)."""
    out: dict[str, dict[str, np.ndarray]] = {}
    for key in arrays.files:
        if key.startswith(prefix):
            modality, field = key[len(prefix) :].rsplit(".", 1)
            out.setdefault(modality, {})[field] = arrays[key]
    return out


@pytest.fixture(scope="module")
def fm() -> FourM:
    if not FIXTURES.is_dir():
        pytest.skip(SKIP_REASON)
    return load_fm(FIXTURES / "fm", loss_denominator="all_present")


def run_case(fm: FourM, case: Path):
    arrays = np.load(case)
    batch = batch_from_reference(mod_dicts(arrays, "in."))
    # We pack every kept token; the comparison assumes the reference's fixed budgets cut nothing off.
    n_in = sum(mb.input_keep.sum(1) for m, mb in batch.items() if m in fm.input_modalities)
    assert int(n_in.max()) <= int(arrays["num_encoder_tokens"])
    n_out = sum(mb.target_keep.sum(1) for m, mb in batch.items() if m in fm.output_modalities)
    assert int(n_out.max()) <= int(arrays["num_decoder_tokens"])
    with torch.no_grad():
        out = fm(batch, return_logits=True)
    return arrays, out


@pytest.mark.parametrize("case", FORWARD_CASES or [None], ids=lambda c: c.stem if c else "no-fixtures")
def test_forward_case_matches_reference(fm, case):
    if case is None:
        pytest.skip(SKIP_REASON)
    arrays, out = run_case(fm, case)
    expected = mod_dicts(arrays, "out.")
    assert set(expected) == set(out.targets)
    diffs: dict[str, float] = {}
    for m, ref in expected.items():
        got = out.targets[m]
        np.testing.assert_array_equal(got.batch_index.numpy(), ref["batch_index"])
        np.testing.assert_array_equal(got.position.numpy(), ref["position"])
        np.testing.assert_array_equal(got.target.numpy(), ref["target"])
        diffs["hidden"] = max(diffs.get("hidden", 0.0), close(got.hidden.numpy(), ref["hidden"]))
        assert abs(out.loss_per_modality[m].item() - float(ref["loss"])) <= 1e-5
        assert abs(out.loss_per_modality[m].item() - float(arrays[f"loss.{m}"])) <= 1e-5
        if len(ref["position"]) == 0:
            continue
        logits = out.logits[m]
        diffs["logits"] = max(diffs.get("logits", 0.0), close(logits[ref["logits_rows"]].numpy(), ref["logits"]))
        lse = torch.logsumexp(logits, dim=-1)
        diffs["logsumexp"] = max(diffs.get("logsumexp", 0.0), close(lse.numpy(), ref["logsumexp"]))
        tl = logits.gather(1, got.target[:, None])[:, 0]
        diffs["target_logit"] = max(diffs.get("target_logit", 0.0), close(tl.numpy(), ref["target_logit"]))
    assert abs(out.loss.item() - float(arrays["loss.total"])) <= 1e-5
    print(f"{case.stem}: max abs diff {diffs}, loss {abs(out.loss.item() - float(arrays['loss.total'])):.2e}")


@pytest.mark.parametrize("case", FORWARD_CASES or [None], ids=lambda c: c.stem if c else "no-fixtures")
def test_loss_denominators_against_reference_losses(fm, case):
    """Drop the targets of one output modality: the others' losses are unchanged (the decoder never
    attends across modalities), ``all_present`` counts the empty one, ``with_targets`` does not."""
    if case is None:
        pytest.skip(SKIP_REASON)
    arrays = np.load(case)
    refs = mod_dicts(arrays, "out.")
    with_targets = [m for m in refs if len(refs[m]["position"])]
    dropped = with_targets[0]
    dicts = mod_dicts(arrays, "in.")
    dicts[dropped] = {**dicts[dropped], "target_mask": np.ones_like(dicts[dropped]["target_mask"])}
    batch = batch_from_reference(dicts)
    kept = [float(arrays[f"loss.{m}"]) for m in with_targets if m != dropped]
    with torch.no_grad():
        reference_rule = fm(batch, loss_denominator="all_present")
        our_rule = fm(batch, loss_denominator="with_targets")
    assert reference_rule.loss_per_modality[dropped].item() == 0.0
    assert abs(reference_rule.loss.item() - sum(kept) / len(refs)) <= 1e-5
    assert abs(our_rule.loss.item() - sum(kept) / (len(with_targets) - 1)) <= 1e-5
    # With every modality holding targets the two rules agree with the stored total.
    _, full = run_case(fm, case)
    if len(with_targets) == len(refs):
        assert abs(full.loss.item() - float(arrays["loss.total"])) <= 1e-5


def fixture_config() -> dict:
    return json.loads((FIXTURES / "fm" / "config.json").read_text())


def test_single_file_layout_loads_the_same_model(fm, tmp_path):
    single = tmp_path / "fm.safetensors"
    shutil.copy(FIXTURES / "fm" / "model.safetensors", single)
    config, _ = read_fm_checkpoint(single)
    assert config == fixture_config()
    other = load_fm(single, loss_denominator="all_present")
    a, b = fm.state_dict(), other.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert read_metadata_config(single)["domains_in"] == config["domains_in"]


def test_loaded_model_shape_and_tables(fm):
    """Architecture, modalities and vocabularies as the fixture's config.json and stored tables say."""
    ref = fixture_config()
    cfg = fm.config
    assert (cfg.dim, cfg.encoder_depth, cfg.decoder_depth, cfg.num_heads) == tuple(
        ref[k] for k in ("dim", "encoder_depth", "decoder_depth", "num_heads"))
    block = cfg.block
    assert (block.gated_mlp, block.act, block.mlp_ratio) == (
        ref["gated_mlp"], ref["act_layer"].lower(), ref["mlp_ratio"])
    for flag in ("qkv_bias", "proj_bias", "mlp_bias", "norm_bias"):
        assert getattr(block, flag) == ref[flag], flag
    assert fm.input_modalities == ref["domains_in"] and fm.output_modalities == ref["domains_out"]
    _, state = read_fm_checkpoint(FIXTURES / "fm")
    for name, spec in fm.specs.items():
        if spec.is_pixels:
            assert spec.patch_size == ref["patch_size"], name
        for side in ("encoder", "decoder"):
            table = state.get(f"{side}_embeddings.{name}.token_emb.weight")
            if table is not None:
                assert spec.vocab_size == table.shape[0], (side, name)
            if spec.is_sequence and f"{side}_embeddings.{name}.pos_emb" in state:
                ours = fm.get_submodule(f"{side}_embeddings.{name}").pos_emb
                assert torch.equal(ours, state[f"{side}_embeddings.{name}.pos_emb"][0]), (side, name)
        stored = state[f"encoder_embeddings.{name}.mod_emb" if name in fm.input_modalities
                       else f"decoder_embeddings.{name}.mod_emb"]
        assert torch.equal(fm.mod_emb[name], stored.float().reshape(-1)), name


def generation_cases(select) -> list:
    """The ``cases/generate_*`` (json, npz) pairs whose side-car passes ``select``."""
    paths = sorted((FIXTURES / "cases").glob("generate_*.json")) if FIXTURES.is_dir() else []
    chosen = [p for p in paths if select(json.loads(p.read_text()))]
    return chosen or [pytest.param(None, marks=pytest.mark.skip(reason="no such generation case in the fixtures"))]


def one_step(meta: dict, scheme: str) -> dict | None:
    schedule = meta["schedule"]
    if meta["mode"] != "generate" or len(schedule) != 1 or schedule[0]["scheme"] != scheme:
        return None
    return schedule[0]


def _guided_single_roar(meta: dict) -> bool:
    step = one_step(meta, "roar")
    return bool(step) and step["temperature"] == 0.0 and step["cfg_scale"] != 1.0 and (
        sorted(step["cfg_cond_domains"]) == sorted(meta["conditions"]))


@pytest.mark.parametrize("case", generation_cases(_guided_single_roar), ids=lambda c: c.stem if c else "none")
def test_roar_step_with_empty_unconditional_encoder(fm, case):
    """A one-step guided ROAR case: the guided pass's unconditional encoder is empty (zero cross-attention)."""
    meta = json.loads(case.read_text())
    arrays = np.load(case.with_suffix(".npz"))
    step = meta["schedule"][0]
    batch = batch_from_reference(mod_dicts(arrays, "init."))
    uncond = {**batch, **{c: batch[c].replace(input_keep=torch.zeros_like(batch[c].input_keep))
                          for c in meta["conditions"]}}
    queries = Queries(step["target_domain"], torch.arange(step["num_tokens"])[None])
    with torch.no_grad():
        cond, empty = fm.decode(fm.encode(batch), queries), fm.decode(fm.encode(uncond), queries)
    assert fm.encode(uncond).context.shape[1] == 0
    guided = empty + step["cfg_scale"] * (cond - empty)
    np.testing.assert_array_equal(guided.argmax(-1).numpy(), arrays["step0.commit_tokens"])


def _greedy_single_ar(meta: dict) -> bool:
    step = one_step(meta, "autoregressive")
    return bool(step) and step["temperature"] == 0.0 and step["cfg_scale"] == 1.0 and meta["batch_size"] == 1


@pytest.mark.parametrize("case", generation_cases(_greedy_single_ar), ids=lambda c: c.stem if c else "none")
def test_autoregressive_sequence_with_kv_cache(fm, case):
    """A greedy one-step AR case: decoding through ``decode`` with a cache reproduces every token."""
    meta = json.loads(case.read_text())
    arrays = np.load(case.with_suffix(".npz"))
    target = meta["schedule"][0]["target_domain"]
    batch = batch_from_reference(mod_dicts(arrays, "init."))
    expected = arrays["step0.ar_generated"]
    with torch.no_grad():
        state, cache = fm.encode(batch), fm.new_cache()
        token = batch[target].tensor[:, :1]  # the first slot's token (a sentinel)
        generated = []
        for slot in range(expected.shape[1]):
            logits = fm.decode(state, Queries(target, torch.tensor([[slot]]), token), cache)
            token = logits[:, -1].argmax(-1, keepdim=True)
            generated.append(token)
    np.testing.assert_array_equal(torch.cat(generated, 1).numpy(), expected)
