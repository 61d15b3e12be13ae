"""Transfer: partial loading, frozen parameters, LoRA, task heads, fine-tuning runs on the one loop."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import safe_open

from omnimask.batch import LABEL_KEY, label_batch
from omnimask.config import ConfigError
from omnimask.data.sources import label_path
from omnimask.generation.pipeline import Pipeline
from omnimask.generation.state import full_condition
from omnimask.loading import export_model
from omnimask.model import FourM, ModelConfig, load_pretrained
from omnimask.model.checkpoint import LORA_KEY
from omnimask.model.heads import HeadConfig, TaskModel, TaskModelConfig
from omnimask.training.loop import Trainer, train
from omnimask.training.optim import OptimConfig, build_optimizer
from omnimask.training.transfer import LoraConfig, add_lora, freeze, init_from

#: The tiny store's modalities (tests/training/conftest.py): two 4x4 token grids and a caption.
GRID = ["tok_a", "tok_b"]


@pytest.fixture
def specs(tiny_config):
    return tiny_config.model.modality_overrides


def _pretrained(tmp_path, specs, seed=0):
    model = FourM(ModelConfig(size="tiny", modality_set=None, modality_overrides=specs, init_seed=seed))
    return model, model.save_pretrained(tmp_path / f"pretrained{seed}")


def _grid_batch(model, n=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    return {m: full_condition(model.specs[m], torch.randint(0, 16, (n, 16), generator=g)) for m in GRID}


def _task_model(specs, kind="classification", **head):
    head = HeadConfig(kind=kind, task="t", inputs=GRID, **({"num_classes": 2} if kind == "classification" else {}),
                      **head)
    return TaskModel(TaskModelConfig(model=ModelConfig(size="tiny", modality_set=None, modality_overrides=specs),
                                     head=head))


def test_partial_load_reports_loaded_new_and_dropped_by_name(tmp_path, specs):
    source, folder = _pretrained(tmp_path, specs)
    extra = {**specs, "tok_c": {"kind": "image_tokens", "vocab_size": 32, "num_tokens": 16, "grid": [4, 4],
                                "patch_size": 4}}
    extra.pop("caption")
    target = FourM(ModelConfig(size="tiny", modality_set=None, modality_overrides=extra, init_seed=5))
    report = init_from(target, folder)
    want_new = sorted(k for k in target.state_dict() if k not in source.state_dict())
    want_dropped = sorted(k for k in source.state_dict() if k not in target.state_dict())
    assert sorted(report.new) == want_new and all("tok_c" in k for k in want_new)
    assert sorted(report.dropped) == want_dropped and all("caption" in k for k in want_dropped)
    assert sorted(report.loaded) == sorted(set(target.state_dict()) & set(source.state_dict()))
    for k in report.loaded:
        assert torch.equal(target.state_dict()[k], source.state_dict()[k])


def test_partial_load_into_a_task_model_maps_the_backbone_and_keeps_the_head_new(tmp_path, specs):
    source, folder = _pretrained(tmp_path, specs)
    model = _task_model(specs)
    report = init_from(model, folder)
    assert sorted(report.new) == sorted(k for k in model.state_dict() if k.startswith("head."))
    assert len(report.loaded) == len(source.state_dict()) and not report.dropped
    assert torch.equal(model.fourm.encoder[0].attn.qkv.weight, source.encoder[0].attn.qkv.weight)


def test_init_from_refuses_what_is_not_a_model(tmp_path, specs):
    with pytest.raises(ConfigError, match="does not exist"):
        init_from(_task_model(specs), tmp_path / "nothing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="not a checkpoint omnimask recognises"):
        init_from(_task_model(specs), tmp_path / "empty")


def test_frozen_parameters_stay_bit_identical_after_steps(specs):
    model = _task_model(specs)
    frozen = freeze(model, ["fourm.*"])
    assert frozen and all(n.startswith("fourm.") for n in frozen)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2, weight_decay=0.1)
    batch = {**_grid_batch(model), LABEL_KEY: label_batch(torch.tensor([0, 1, 0, 1]))}
    for _ in range(3):
        opt.zero_grad()
        model(batch).loss.backward()
        opt.step()
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in frozen)
    assert any(not torch.equal(before[k], after[k]) for k in after if k.startswith("head."))
    with pytest.raises(ConfigError, match="matches no parameter"):
        freeze(model, ["decoderz.*"])


def test_layer_decay_scales_each_encoder_block_and_keeps_the_head_at_peak(specs):
    model = _task_model(specs)
    depth = len(model.fourm.encoder)
    plain = build_optimizer(model, OptimConfig(lr=1e-3), 32)
    assert [g["weight_decay"] for g in plain.param_groups] == [0.05, 0.0]  # the two groups as before
    assert plain.defaults["fused"]  # one fused kernel for plain CPU parameters
    optimizer = build_optimizer(model, OptimConfig(lr=1e-3, layer_decay=0.5), 32)
    lr_of = {id(p): g["lr"] for g in optimizer.param_groups for p in g["params"]}
    for name, param in model.named_parameters():
        if name.startswith("fourm.encoder."):
            block = int(name.split(".")[2])
            assert lr_of[id(param)] == pytest.approx(1e-3 * 0.5 ** (depth - block)), name
        elif name.startswith(("fourm.encoder_embeddings.", "fourm.mod_emb.")):
            assert lr_of[id(param)] == pytest.approx(1e-3 * 0.5 ** (depth + 1)), name
        elif name.startswith("head."):
            assert lr_of[id(param)] == pytest.approx(1e-3), name
    assert sum(len(g["params"]) for g in optimizer.param_groups) == len(list(model.parameters()))
    with pytest.raises(ConfigError, match="layer_decay"):
        OptimConfig(layer_decay=0.0)


def test_lora_starts_unchanged_and_merged_equals_unmerged(tmp_path, specs):
    pytest.importorskip("peft")
    model = _task_model(specs, "regression", out_dim=2).eval()
    batch = _grid_batch(model)
    before = model.predict(batch)
    add_lora(model, LoraConfig(rank=4, alpha=8), trainable=["head.*"])
    assert torch.equal(model.predict(batch), before)  # B = 0 at the start
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n or n.startswith("head.") for n in trainable)
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.05)
    labelled = {**batch, LABEL_KEY: label_batch(torch.randn(4, 2))}
    for _ in range(3):
        opt.zero_grad()
        model(labelled).loss.backward()
        opt.step()
    adapted = model.predict(batch)
    assert not torch.allclose(adapted, before)
    saved = model.save_pretrained(tmp_path / "lora")
    merged = load_pretrained(saved)
    assert not any("lora_" in k for k in merged.state_dict())
    torch.testing.assert_close(merged.eval().predict(batch), adapted, atol=1e-5, rtol=1e-5)
    exported = export_model(saved, tmp_path / "export", dtype="float32")  # the shipped copy is merged
    with safe_open(str(exported / "model.safetensors"), framework="pt") as f:
        assert LORA_KEY not in (f.metadata() or {}) and not any("lora_" in k for k in f.keys())  # noqa: SIM118
    torch.testing.assert_close(load_pretrained(exported).eval().predict(batch), adapted, atol=1e-5, rtol=1e-5)


def _upsampled(ids):
    """(B, 16) ids of a 4x4 grid -> (B, 16, 16) maps, each token's id over its 4x4 pixels."""
    return ids.reshape(-1, 4, 4).repeat_interleave(4, 1).repeat_interleave(4, 2)


@pytest.mark.parametrize(("kind", "head", "label_of"), [
    ("classification", {}, lambda ids: ids[:, 0] % 2),
    ("regression", {"out_dim": 2}, lambda ids: torch.stack([ids[:, 0] / 8.0, -ids[:, 1] / 8.0], 1)),
    ("segmentation", {"num_classes": 3, "image_size": 16}, lambda ids: _upsampled(ids % 3)),
    ("dense_regression", {"image_size": 16}, lambda ids: _upsampled(ids / 16.0)),
])
def test_each_head_overfits_a_tiny_batch(kind, head, label_of, specs):
    torch.manual_seed(0)
    model = _task_model(specs, kind, **head)
    batch = _grid_batch(model)
    batch[LABEL_KEY] = label_batch(label_of(batch["tok_a"].tensor))
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    first = float(model(batch).loss.detach())
    for _ in range(150):
        opt.zero_grad()
        loss = model(batch).loss
        loss.backward()
        opt.step()
    assert float(loss.detach()) < 0.2 * first


def test_dense_head_needs_whole_inputs_of_one_grid(specs):
    model = _task_model(specs, "segmentation", num_classes=3, image_size=16)
    batch = _grid_batch(model)
    batch["tok_a"] = batch["tok_a"].replace(input_keep=batch["tok_a"].input_keep.clone().fill_(False))
    batch["tok_a"].input_keep[:, :8] = True
    with pytest.raises(ValueError, match="whole inputs"):
        model.predict(batch)
    with pytest.raises(ConfigError, match="not a multiple"):
        _task_model(specs, "segmentation", num_classes=3, image_size=15)


def _labelled_store(cfg, task):
    """Labels for the tiny store: whether tok_a's first id is even (a task pre-training never saw)."""
    from omnimask.data.token_store import TokenStore

    for split in ("train", "val"):
        split_dir = Path(cfg.data.path) / split
        store = TokenStore.load(split_dir)
        labels = np.array([int(store[i]["tok_a"][0]) % 2 for i in range(len(store))])
        label_path(split_dir, task).parent.mkdir(parents=True, exist_ok=True)
        np.save(label_path(split_dir, task), labels)


def _finetune_cfg(tiny_config, folder, out, **changes):
    head = HeadConfig(kind="classification", task="parity", inputs=GRID, num_classes=2)
    cfg = dataclasses.replace(tiny_config, out_dir=str(out), head=head, init_from=str(folder),
                              data=dataclasses.replace(tiny_config.data, task="parity"), **changes)
    return cfg


def test_finetune_runs_on_the_loop_saves_loads_and_predicts(tiny_config, tmp_path, specs):
    _, folder = _pretrained(tmp_path, specs)
    _labelled_store(tiny_config, "parity")
    cfg = _finetune_cfg(tiny_config, folder, tmp_path / "ft", freeze=["fourm.encoder.0.*"])
    trainer = train(cfg)
    report = json.loads((tmp_path / "ft" / "init_report.json").read_text())
    assert report["new"] and all(k.startswith("head.") for k in report["new"])
    loaded = load_pretrained(trainer.checkpoint_dir)
    assert isinstance(loaded, TaskModel) and loaded.config.head.task == "parity"
    batch = _grid_batch(loaded)
    torch.testing.assert_close(loaded.eval().predict(batch), trainer.module.eval().predict(batch))
    frozen_before = FourM.from_pretrained(folder).encoder[0].attn.qkv.weight
    assert torch.equal(loaded.fourm.encoder[0].attn.qkv.weight, frozen_before)


@pytest.mark.parametrize("lora", [0, 4])
def test_finetune_resumed_mid_run_equals_uninterrupted(tiny_config, tmp_path, specs, lora):
    if lora:
        pytest.importorskip("peft")
    _, folder = _pretrained(tmp_path, specs)
    _labelled_store(tiny_config, "parity")
    whole = train(_finetune_cfg(tiny_config, folder, tmp_path / "whole", lora=LoraConfig(rank=lora)))
    half_cfg = _finetune_cfg(tiny_config, folder, tmp_path / "half", lora=LoraConfig(rank=lora))
    first = Trainer(half_cfg)
    first.total_steps = 3  # stop half-way, as an interrupted run would
    first.run()
    resumed = train(half_cfg, resume=True)
    a, b = whole.module.state_dict(), resumed.module.state_dict()
    assert resumed.state.step == 6 and a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_a_head_without_labels_is_a_clear_error(tiny_config, tmp_path, specs):
    _, folder = _pretrained(tmp_path, specs)
    cfg = _finetune_cfg(tiny_config, folder, tmp_path / "nolabels")
    with pytest.raises(ConfigError, match="no labels at"):
        train(cfg)


def test_a_new_input_modality_trains_alone_with_the_rest_frozen(tiny_config, tmp_path, specs):
    base = {k: v for k, v in specs.items() if k != "tok_b"}  # pre-trained without tok_b
    pretrained, folder = _pretrained(tmp_path, base)
    cfg = dataclasses.replace(tiny_config, out_dir=str(tmp_path / "new_input"), init_from=str(folder),
                              freeze=["@loaded"])
    trainer = train(cfg)
    report = json.loads((tmp_path / "new_input" / "init_report.json").read_text())
    trained = trainer.module.state_dict()
    assert report["new"] and sorted(report["new"]) == sorted(k for k in trained if "tok_b" in k)
    assert all(torch.equal(trained[k], pretrained.state_dict()[k]) for k in report["loaded"])
    fresh = FourM(cfg.model).state_dict()  # what the new tensors started from
    assert all(not torch.equal(trained[k], fresh[k]) for k in report["new"])
    with pytest.raises(ConfigError, match="set init_from"):
        train(dataclasses.replace(cfg, init_from="", out_dir=str(tmp_path / "no_init")))


def test_a_new_input_modality_conditions_generation_after_reload(tiny_config, tmp_path, specs):
    base = {k: v for k, v in specs.items() if k != "tok_b"}
    pretrained = FourM(ModelConfig(size="tiny", modality_set=None, modality_overrides=base))
    with torch.no_grad():  # break the initialisation's symmetry, so that predictions depend on the inputs
        for i, p in enumerate(pretrained.parameters()):
            p.add_(torch.randn(p.shape, generator=torch.Generator().manual_seed(i)) * 0.2)
    folder = pretrained.save_pretrained(tmp_path / "pretrained")
    cfg = dataclasses.replace(tiny_config, out_dir=str(tmp_path / "new_input"), init_from=str(folder),
                              freeze=["@loaded"])
    trainer = train(cfg)
    model = FourM.from_pretrained(trainer.checkpoint_dir)
    assert all(torch.equal(model.state_dict()[k], v) for k, v in trainer.module.state_dict().items())
    pipe = Pipeline(model, {})
    plan = pipe.plan(["tok_b"], ["tok_a"], temperature=1.0)  # sampled: same seed, other condition

    def generate(ids):
        return pipe.generate({"tok_b": full_condition(model.specs["tok_b"], ids)}, plan, seed=0).tokens("tok_a")

    ids = torch.randint(0, 16, (4, 16), generator=torch.Generator().manual_seed(3))
    out = generate(ids)
    assert out.shape == (4, 16) and torch.equal(out, generate(ids))
    assert not torch.equal(out, generate((ids + 5) % 16))  # the new input steers what is generated
    # ... and as a new target (its output head was new in the report): every slot generated.
    given = {"tok_a": full_condition(model.specs["tok_a"], ids)}
    made = pipe.generate(given, pipe.plan(["tok_a"], ["tok_b"], temperature=1.0), seed=0).state["tok_b"]
    assert bool(made.input_keep.all()) and int(made.tensor.max()) < model.specs["tok_b"].vocab_size
