"""Fine-tuning runs: a pretrained 4M, a transfer task, a method — as one :class:`TrainConfig`.

:func:`finetune_config` reads the pretrained model's architecture (ours, or a released 4M through
:mod:`omnimask.compat`), puts the task's head on it (:data:`omnimask.data.synthworld.transfer.TRANSFER_TASKS`),
feeds the chosen inputs whole, and sets what the method trains (:data:`METHODS`):

* ``full`` — every parameter;
* ``linear`` — the head only (the whole backbone frozen: linear probing on pooled features, or the
  light dense decoder);
* ``frozen-encoder`` — the encoder blocks stay fixed; the input embeddings (patch projection,
  modality embeddings) and the head train;
* ``lora`` — low-rank adapters on every attention / MLP projection, and the head.

``scratch=True`` gives the same architecture, data and steps from random initialisation (the
baseline every transfer claim is measured against). The run is an ordinary ``omnimask train`` run:
resume, checkpoints, metrics.jsonl, loss curves and torchrun work unchanged.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path

from omnimask.config import ConfigError
from omnimask.data.config import DataConfig
from omnimask.data.synthworld.transfer import TRANSFER_TASKS
from omnimask.files import MANIFEST_NAME, TOKENIZERS_DIR
from omnimask.generation.pipeline import resolve_name
from omnimask.modalities import ModalitySpec
from omnimask.model import ModelConfig
from omnimask.model.heads import HeadConfig
from omnimask.tokenizers.bundle import read_manifest, shipped_bundle_path
from omnimask.training.config import TrainConfig
from omnimask.training.optim import OptimConfig
from omnimask.training.transfer import LoraConfig

#: SynthWorld world seed of fine-tuning data: another world than pre-training's (seed 0), so neither
#: the fine-tuning scenes nor the validation scenes were seen in pre-training.
FINETUNE_WORLD_SEED = 1

@dataclasses.dataclass(frozen=True)
class Method:
    """What a fine-tuning method trains: parameters frozen (globs over TaskModel names), LoRA rank, peak lr."""

    freeze: tuple[str, ...]
    lora_rank: int
    lr: float


#: Method name → :class:`Method`. Learning rates: the best of {1e-3, 3e-3, 1e-2} on ``largest_color`` at
#: 150 steps (``benchmarks/transfer.py``); scratch runs use ``full``'s.
METHODS: dict[str, Method] = {
    "full": Method((), 0, 1e-3),
    "linear": Method(("fourm.*",), 0, 1e-2),
    "frozen-encoder": Method(("fourm.encoder.*", "fourm.encoder_norm.*"), 0, 3e-3),
    "lora": Method((), 8, 3e-3),
}


def pretrained_config(path: str | Path) -> ModelConfig:
    """The :class:`ModelConfig` of a pretrained model folder (ours or a released 4M)."""
    from omnimask.loading import detect, load
    from omnimask.model import FourM

    path = Path(path)
    try:
        kind = detect(path)
    except (FileNotFoundError, ValueError) as err:
        raise ConfigError(f"--from {path}: {err}; give a model folder (ours or a released 4M)") from None
    if kind not in ("model", "released_model"):
        raise ConfigError(f"--from {path} holds a {kind.replace('_', ' ')}, not a 4M model to fine-tune")
    model = load(path)
    assert isinstance(model, FourM)
    return model.config


def _tokenizers_of(path: Path) -> str:
    """Where the run finds its tokenizers: the pretrained model's bundle, else the shipped one."""
    return str(path) if (path / TOKENIZERS_DIR / MANIFEST_NAME).is_file() else "shipped"


def _check_tokenizers(names: Sequence[str], specs: Mapping[str, ModalitySpec], tokenizers: str,
                      resolution: int) -> None:
    """Every discrete input needs a tokenizer in the bundle the run reads (pixels need none)."""
    discrete = [n for n in names if specs[n].is_discrete]
    if not discrete:
        return
    try:
        folder, manifest = read_manifest(shipped_bundle_path(f"synthworld{resolution}") if tokenizers == "shipped"
                                         else tokenizers)
    except FileNotFoundError as err:
        raise ConfigError(f"--inputs {discrete} need tokenizers: {err}; give a bundle that has them "
                          "(--set data.tokenizers=DIR) or use pixel inputs (rgb)") from None
    missing = [n for n in discrete if n not in manifest]
    if missing:
        raise ConfigError(f"--inputs {missing}: no tokenizer for them in {folder}; give a bundle that has them "
                          "(--set data.tokenizers=DIR, e.g. from `omnimask tokenizer train`)")


def finetune_config(source: str | Path, task: str, out_dir: str | Path, *, method: str = "full",
                    inputs: Sequence[str] = ("rgb",), scratch: bool = False, steps: int = 300,
                    num_train: int = 2000, num_val: int = 256, data: DataConfig | None = None) -> TrainConfig:
    """The configuration of fine-tuning ``source`` on ``task`` (see the module docstring).

    ``data`` replaces the default SynthWorld data (``num_train`` / ``num_val`` scenes of world
    :data:`FINETUNE_WORLD_SEED`, tokenized with the pretrained model's tokenizers), e.g. with a
    ``store`` that several runs share.
    """
    if task not in TRANSFER_TASKS:
        raise ConfigError(f"unknown task {task!r}; SynthWorld transfer tasks: {sorted(TRANSFER_TASKS)}")
    if method not in METHODS:
        raise ConfigError(f"unknown method {method!r}; choose one of {list(METHODS)}")
    source = Path(source)
    model = pretrained_config(source)
    specs = model.specs()
    try:
        names = [resolve_name(n, list(specs)) for n in inputs]
    except ValueError as err:
        raise ConfigError(f"--inputs: {err}. A new input modality needs its spec and a tokenizer: add it to "
                          "model.modality_overrides and data.tokenizers (README: 'Transfer')") from None
    pixels = [specs[n] for n in names if specs[n].image_size]
    if not pixels:
        raise ConfigError(f"--inputs {list(inputs)}: give at least one image-like input (e.g. rgb)")
    resolution = pixels[0].image_size[0]  # type: ignore[index]
    if data is None:
        _check_tokenizers(names, specs, _tokenizers_of(source), resolution)
    spec = TRANSFER_TASKS[task]
    head = HeadConfig(kind=spec.kind, task=task, inputs=names, num_classes=spec.num_classes, out_dim=spec.out_dim,
                      image_size=resolution)
    chosen = METHODS[method]
    if scratch and method != "full":
        raise ConfigError("--scratch trains every parameter from random initialisation; use --method full")
    return TrainConfig(
        recipe=f"finetune:{task}:{method}{':scratch' if scratch else ''}",
        out_dir=str(out_dir),
        model=dataclasses.replace(model, drop_path=0.0),
        data=data or DataConfig(source="synth", resolution=resolution, num_train=num_train, num_val=num_val,
                                synth_seed=FINETUNE_WORLD_SEED, tokenizers=_tokenizers_of(source), task=task),
        optim=OptimConfig(lr=chosen.lr, min_lr=1e-5,
                          warmup_steps=min(50, steps // 10), weight_decay=0.05),
        head=head,
        init_from="" if scratch else str(source),
        freeze=list(chosen.freeze),
        lora=LoraConfig(rank=chosen.lora_rank),
        batch_size=32,
        steps=steps,
        eval_every=max(1, steps // 5),
        eval_batches=max(1, num_val // 32),
        save_every=max(1, steps // 2),
        log_every=10,
        tensorboard=False,
    )
