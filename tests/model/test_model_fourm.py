"""FourM on a tiny model with every modality kind: forward/backward, attention pattern, padding,
empty encoder, loss denominators, encode/decode (with KV cache), tied heads, checkpoints."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from omnimask.batch import Batch, ModalityBatch
from omnimask.modalities import ModalitySpec
from omnimask.model import FourM, ModelConfig, Queries, config_for_specs
from omnimask.model.config import RELEASED_BLOCK

SPECS = {
    "rgb": ModalitySpec(name="rgb", kind="pixels", num_tokens=4, grid=(2, 2), patch_size=4),
    "tok_a": ModalitySpec(name="tok_a", kind="image_tokens", vocab_size=16, num_tokens=4, grid=(2, 2), patch_size=4),
    "tok_b": ModalitySpec(name="tok_b", kind="image_tokens", vocab_size=12, num_tokens=4, grid=(2, 2), patch_size=4),
    "cap": ModalitySpec(name="cap", kind="sequence", vocab_size=32, num_tokens=6, max_length=6),
    "glob": ModalitySpec(name="glob", kind="global_tokens", vocab_size=8, num_tokens=3),
    "emb": ModalitySpec(name="emb", kind="embedding_sequence", num_tokens=4, input_dim=5),
}
ARCH = {"size": None, "dim": 32, "encoder_depth": 2, "decoder_depth": 2, "num_heads": 2}


def tiny_config(**fields) -> ModelConfig:
    return config_for_specs(SPECS, **{**ARCH, **fields})


@pytest.fixture(scope="module")
def model() -> FourM:
    return FourM(tiny_config()).eval()


def bools(rows: list[str]) -> torch.Tensor:
    return torch.tensor([[c == "1" for c in r] for r in rows])


def make_batch() -> Batch:
    """B = 2; inputs and targets of every kind; sequence targets start at the input budget."""
    g = torch.Generator().manual_seed(0)

    def entry(tensor: torch.Tensor, inputs: list[str], targets: list[str]) -> ModalityBatch:
        return ModalityBatch(tensor, bools(inputs), bools(targets))

    return {
        "rgb": entry(torch.randn(2, 3, 8, 8, generator=g), ["1010", "0111"], ["0000", "0000"]),
        "tok_a": entry(torch.randint(0, 16, (2, 4), generator=g), ["1000", "0000"], ["0110", "1011"]),
        "tok_b": entry(torch.randint(0, 12, (2, 4), generator=g), ["0100", "0010"], ["1011", "0100"]),
        "cap": entry(
            torch.randint(4, 32, (2, 14), generator=g),
            ["11100000000000", "11000000000000"],
            ["00001111100000", "00011111110000"],
        ),
        "glob": entry(torch.randint(0, 8, (2, 3), generator=g), ["100", "000"], ["011", "110"]),
        "emb": entry(torch.randn(2, 4, 5, generator=g), ["1100", "1110"], ["0000", "0000"]),
    }


def replace(batch: Batch, name: str, **fields: torch.Tensor) -> Batch:
    return {**batch, name: batch[name].replace(**fields)}


def logits_of(model: FourM, batch: Batch) -> dict[str, torch.Tensor]:
    with torch.no_grad():
        out = model(batch, return_logits=True)
    assert out.logits is not None
    return out.logits


def test_every_kind_forward_backward():
    model = FourM(tiny_config())
    out = model(make_batch())
    assert torch.isfinite(out.loss) and set(out.loss_per_modality) == {"tok_a", "tok_b", "cap", "glob"}
    out.loss.backward()
    must_learn = [
        "encoder_embeddings.rgb.proj.weight",
        "encoder_embeddings.tok_a.token_emb.weight",
        "encoder_embeddings.cap.token_emb.weight",
        "encoder_embeddings.glob.token_emb.weight",
        "encoder_embeddings.glob.pos_emb",
        "encoder_embeddings.emb.emb_proj.weight",
        "decoder_embeddings.cap.token_emb.weight",
        "decoder_embeddings.glob.pos_emb",
        "mask_token",
        *(f"decoder_embeddings.{m}.to_logits.weight" for m in ("tok_a", "tok_b", "cap", "glob")),
        *(f"mod_emb.{m}" for m in SPECS),
        "decoder_proj_context.weight",
        "encoder.0.attn.qkv.weight",
        "decoder.1.cross_attn.kv.weight",
        "decoder.1.mlp.fc3.weight",
    ]
    params = dict(model.named_parameters())
    for name in must_learn:
        assert params[name].grad is not None and params[name].grad.abs().sum() > 0, name


def test_sequence_targets_never_change_other_modalities(model):
    batch = make_batch()
    base = logits_of(model, batch)
    changed = batch["cap"].tensor.clone()
    changed[:, 4:10] = (changed[:, 4:10] + 7) % 32  # every target-slot token of both rows
    other = logits_of(model, replace(batch, "cap", tensor=changed))
    for m in ("tok_a", "tok_b", "glob"):
        torch.testing.assert_close(other[m], base[m], atol=0, rtol=0)
    assert not torch.allclose(other["cap"], base["cap"])


def test_image_targets_are_bidirectional_within_their_modality_only(model):
    batch = make_batch()
    base = logits_of(model, batch)
    more = batch["tok_a"].target_keep.clone()
    more[0, 3] = True  # one more tok_a target in row 0
    other = logits_of(model, replace(batch, "tok_a", target_keep=more))
    for m in ("tok_b", "cap", "glob"):  # the packed width grew, so only float-order noise is allowed
        torch.testing.assert_close(other[m], base[m], atol=1e-5, rtol=1e-5)
    # row 0's old tok_a targets (positions 1, 2) now also see position 3
    assert not torch.allclose(other["tok_a"][:2], base["tok_a"][:2])
    # changing target ids changes no logits at all (image decoders read the mask token)
    tok_a = batch["tok_a"]
    ids = torch.where(tok_a.target_keep, (tok_a.tensor + 1) % 16, tok_a.tensor)
    same = logits_of(model, replace(batch, "tok_a", tensor=ids))
    for m in base:
        torch.testing.assert_close(same[m], base[m], atol=0, rtol=0)


def test_sequence_targets_never_see_later_positions(model):
    batch = make_batch()
    with torch.no_grad():
        out = model(batch, return_logits=True)
    pos, rows = out.targets["cap"].position, out.targets["cap"].batch_index
    assert pos[rows == 0].tolist() == [4, 5, 6, 7]  # t and t+1 both target slots
    changed = batch["cap"].tensor.clone()
    changed[0, 7] = (changed[0, 7] + 1) % 32  # input of decoder position 7 only
    new = logits_of(model, replace(batch, "cap", tensor=changed))["cap"]
    early = (rows == 0) & (pos < 7)
    torch.testing.assert_close(new[early], out.logits["cap"][early], atol=0, rtol=0)
    assert not torch.allclose(new[(rows == 0) & (pos == 7)], out.logits["cap"][(rows == 0) & (pos == 7)])


def test_encoder_inputs_reach_every_output(model):
    batch = make_batch()
    base = logits_of(model, batch)
    other = logits_of(model, replace(batch, "emb", tensor=batch["emb"].tensor + 1.0))
    for m in base:
        assert not torch.allclose(other[m], base[m])


def test_rows_are_independent_of_batch_packing(model):
    batch = make_batch()
    both = logits_of(model, batch)
    with torch.no_grad():
        out = model(batch, return_logits=True)
    for row in (0, 1):
        alone = {
            m: ModalityBatch(mb.tensor[row : row + 1], mb.input_keep[row : row + 1], mb.target_keep[row : row + 1])
            for m, mb in batch.items()
        }
        single = logits_of(model, alone)
        for m in single:
            torch.testing.assert_close(single[m], both[m][out.targets[m].batch_index == row], atol=2e-6, rtol=1e-5)


def test_empty_encoder_gives_zero_cross_attention(model):
    batch = {m: mb.replace(input_keep=torch.zeros_like(mb.input_keep)) for m, mb in make_batch().items()}
    state = model.encode(batch)
    assert state.context.shape == (2, 0, 32)
    queries = Queries("tok_a", torch.tensor([[0, 1, 2, 3], [0, 1, 2, 3]]))
    empty = model.decode(state, queries)
    assert torch.isfinite(empty).all()
    # A context whose keys are all masked must give the same: cross-attention contributes exactly 0.
    masked = dataclasses.replace(state, context=torch.randn(2, 3, 32), keep=torch.zeros(2, 3, dtype=torch.bool))
    torch.testing.assert_close(model.decode(masked, queries), empty, atol=0, rtol=0)
    train = FourM(tiny_config())
    out = train(batch)
    out.loss.backward()
    assert torch.isfinite(out.loss) and all(
        torch.isfinite(p.grad).all() for p in train.parameters() if p.grad is not None
    )


def test_loss_denominators(model):
    batch = replace(make_batch(), "tok_b", target_keep=torch.zeros(2, 4, dtype=torch.bool))
    with torch.no_grad():
        with_targets = model(batch)
        all_present = model(batch, loss_denominator="all_present")
    losses = with_targets.loss_per_modality
    assert losses["tok_b"].item() == 0.0
    others = [losses[m] for m in ("tok_a", "cap", "glob")]
    torch.testing.assert_close(with_targets.loss, sum(others) / 3)
    torch.testing.assert_close(all_present.loss, sum(others) / 4)
    ref_model = FourM(tiny_config(loss_denominator="all_present")).eval()
    torch.testing.assert_close(ref_model(batch).loss, all_present.loss)


def test_decode_matches_teacher_forced_forward(model):
    batch = make_batch()
    only = {
        m: mb.replace(target_keep=torch.zeros_like(mb.target_keep)) if m not in ("tok_a", "cap") else mb
        for m, mb in batch.items()
    }
    with torch.no_grad():
        out = model(only, return_logits=True)
        state = model.encode(batch)
        # image queries: row 0 targets {1, 2}, row 1 targets {0, 2, 3}; pad row 0 to 3 queries
        slots = torch.tensor([[1, 2, 0], [0, 2, 3]])
        keep = torch.tensor([[True, True, False], [True, True, True]])
        img = model.decode(state, Queries("tok_a", slots, keep=keep))
        torch.testing.assert_close(img[keep], out.logits["tok_a"], atol=2e-6, rtol=1e-5)
        # sequence, row 1: target slots 3..9, decoder positions t = 3..8 with slots 0..5
        cap = batch["cap"].tensor[1:2]
        tf = out.logits["cap"][out.targets["cap"].batch_index == 1]
        row1 = {m: ModalityBatch(mb.tensor[1:2], mb.input_keep[1:2], mb.target_keep[1:2]) for m, mb in batch.items()}
        state1 = model.encode(row1)
        full = model.decode(state1, Queries("cap", torch.arange(6)[None], cap[:, 3:9]))
        torch.testing.assert_close(full[0], tf, atol=2e-6, rtol=1e-5)
        cache = model.new_cache()
        steps = [
            model.decode(state1, Queries("cap", torch.tensor([[s]]), cap[:, 3 + s : 4 + s]), cache) for s in range(6)
        ]
        assert cache.length == 6
        torch.testing.assert_close(torch.cat(steps, 1)[0], tf, atol=2e-6, rtol=1e-5)


def test_tied_output_heads_use_the_input_embedding():
    model = FourM(tiny_config(tie_output=True)).eval()
    assert model.decoder_embeddings["tok_a"].to_logits is None
    assert "decoder_embeddings.tok_a.to_logits.weight" not in model.state_dict()
    h = torch.randn(3, 32)
    torch.testing.assert_close(model.logits("cap", h), h @ model.encoder_embeddings["cap"].token_emb.weight.T)
    assert torch.isfinite(model(make_batch()).loss)


def test_checkpoint_round_trip_is_exact(tmp_path):
    block = dataclasses.replace(RELEASED_BLOCK, qk_norm=True, norm_bias=True, qkv_bias=True, mlp_bias=True)
    model = FourM(tiny_config(block=block, init_seed=3)).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.01 * torch.randn(p.shape, generator=torch.Generator().manual_seed(p.numel())))
    model.save_pretrained(tmp_path / "ckpt")
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir()) == ["config.json", "model.safetensors"]
    for source in (tmp_path / "ckpt", tmp_path / "ckpt" / "model.safetensors"):
        loaded = FourM.from_pretrained(source).eval()
        assert loaded.config == model.config
        a, b = model.state_dict(), loaded.state_dict()
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
        with torch.no_grad():
            assert torch.equal(loaded(make_batch()).loss, model(make_batch()).loss)


def test_initialisation_is_seeded():
    a, b, c = (FourM(tiny_config(init_seed=s)).state_dict() for s in (1, 1, 2))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["mask_token"], c["mask_token"])


def test_bad_batches_are_rejected(model):
    batch = make_batch()
    with pytest.raises(ValueError, match="unknown to this model"):
        model({**batch, "depth": batch["tok_a"]})
    with pytest.raises(ValueError, match="not an output modality"):
        model(replace(batch, "rgb", target_keep=torch.ones(2, 4, dtype=torch.bool)))
    out_only = FourM(config_for_specs(SPECS, inputs=["rgb"], outputs=["tok_a"], **ARCH))
    with pytest.raises(ValueError, match="not an input modality"):
        out_only.encode({"rgb": batch["rgb"], "tok_a": batch["tok_a"]})


def test_bf16_autocast_on_cpu_trains():
    model = FourM(tiny_config())
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(make_batch())
    out.loss.backward()
    assert out.loss.dtype == torch.float32 and torch.isfinite(out.loss)
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
