"""Starting a run from a pretrained model: partial loading, frozen parameters and LoRA adapters.

:func:`init_from` copies every tensor of a pretrained checkpoint (ours, or a released 4M through
:mod:`omnimask.compat`) whose name and shape match into the new model and reports, by name, what was
loaded, what is new (a task head, a new modality's embeddings, kept at their initialisation) and what
was dropped (in the checkpoint but not in the model, or of another shape). A backbone inside a
:class:`~omnimask.model.heads.TaskModel` (``fourm.``) matches the checkpoint's plain names.

:func:`freeze` switches ``requires_grad`` off for parameters matching glob patterns (frozen
parameters get no gradient, so the optimizer never touches them). :func:`add_lora` wraps the
attention and MLP projections with low-rank adapters through peft (``pip install omnimask[lora]``),
zero-initialised so the adapted model starts out identical to the pretrained one.
"""

from __future__ import annotations

import dataclasses
import fnmatch
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from omnimask.config import ConfigError
from omnimask.files import write_json

#: A ``freeze`` entry standing for every parameter :func:`init_from` loaded (train only what is new).
FREEZE_LOADED = "@loaded"
#: Name prefix of the 4M backbone inside a TaskModel.
BACKBONE_PREFIX = "fourm."
#: Linear layers of the blocks that LoRA adapts by default (attention in/out projections, MLP).
LORA_TARGETS: tuple[str, ...] = ("qkv", "q", "kv", "proj", "fc1", "fc2", "fc3")


@dataclasses.dataclass(kw_only=True)
class LoraConfig:
    """Low-rank adapters (``rank`` 0: none). ``targets``: names of the adapted linear layers."""

    rank: int = 0
    alpha: int = 16
    dropout: float = 0.0
    targets: list[str] = dataclasses.field(default_factory=lambda: list(LORA_TARGETS))

    def __post_init__(self) -> None:
        if self.rank < 0 or self.alpha <= 0 or not 0.0 <= self.dropout < 1.0:
            raise ConfigError("lora: rank must be >= 0, alpha > 0 and dropout in [0, 1)")

    @property
    def scaling(self) -> float:
        return self.alpha / self.rank


@dataclasses.dataclass
class LoadReport:
    """What :func:`init_from` did, tensor by tensor."""

    source: str
    loaded: list[str]
    new: list[str]
    dropped: list[str]
    mismatched: dict[str, tuple[list[int], list[int]]]

    def summary(self) -> str:
        """One line per category, e.g. for the start of a run's log."""
        lines = [f"init_from {self.source}: {len(self.loaded)} tensors loaded, {len(self.new)} new, "
                 f"{len(self.dropped)} dropped"]
        if self.new:
            more = " …" if len(self.new) > 12 else ""
            lines.append(f"  new (kept at initialisation): {', '.join(self.new[:12])}{more}")
        for name, (have, want) in list(self.mismatched.items())[:12]:
            lines.append(f"  dropped {name}: shape {have} in the checkpoint, {want} in the model")
        return "\n".join(lines)

    def save(self, path: str | Path) -> Path:
        return write_json(path, dataclasses.asdict(self))


def pretrained_state(path: str | Path) -> dict[str, torch.Tensor]:
    """The weights of a pretrained model folder (ours, merged if it has LoRA; or a released 4M)."""
    from omnimask.loading import detect, load

    path = Path(path)
    if not path.exists():
        raise ConfigError(f"init_from: {path} does not exist; give a model folder (ours or a released 4M)")
    try:
        kind = detect(path)
    except ValueError as err:
        raise ConfigError(f"init_from: {err}") from None
    if kind not in ("model", "task_model", "released_model"):
        raise ConfigError(f"init_from: {path} holds a {kind.replace('_', ' ')}, not a model to start from")
    model = load(path)
    return {k: v.detach() for k, v in model.state_dict().items()}


def init_from(model: nn.Module, path: str | Path) -> LoadReport:
    """Copy the matching tensors of the checkpoint at ``path`` into ``model`` (see the module docstring)."""
    source = pretrained_state(path)
    target = model.state_dict()

    def source_name(name: str) -> str | None:
        for candidate in (name, name.removeprefix(BACKBONE_PREFIX)):
            if candidate in source:
                return candidate
        return None

    loaded, new, mismatched, used = [], [], {}, set()
    with torch.no_grad():
        for name, tensor in target.items():
            key = source_name(name)
            if key is None:
                new.append(name)
                continue
            used.add(key)
            if tuple(source[key].shape) != tuple(tensor.shape):
                mismatched[key] = (list(source[key].shape), list(tensor.shape))
                new.append(name)
                continue
            tensor.copy_(source[key].to(tensor.dtype))
            loaded.append(name)
    dropped = sorted(set(source) - used) + sorted(mismatched)
    return LoadReport(str(path), loaded, new, dropped, mismatched)


def freeze(model: nn.Module, patterns: Sequence[str], report: LoadReport | None = None) -> list[str]:
    """Stop gradients of the parameters whose names match any glob pattern; returns the frozen names.

    :data:`FREEZE_LOADED` stands for the parameters ``report`` says were loaded. A pattern matching no
    parameter is an error listing a few names (a typo would silently train all).
    """
    names = [n for n, _ in model.named_parameters()]
    if FREEZE_LOADED in patterns:
        if report is None:
            raise ConfigError(f"freeze: {FREEZE_LOADED} freezes what init_from loaded; set init_from")
        loaded = set(report.loaded)
        patterns = [p for p in patterns if p != FREEZE_LOADED] + [n for n in names if n in loaded]
    for pattern in patterns:
        if not any(fnmatch.fnmatchcase(n, pattern) for n in names):
            raise ConfigError(f"freeze: {pattern!r} matches no parameter; names look like {names[:4]}")
    frozen = []
    for name, param in model.named_parameters():
        if any(fnmatch.fnmatchcase(name, p) for p in patterns):
            param.requires_grad_(False)
            frozen.append(name)
    return frozen


def add_lora(model: nn.Module, cfg: LoraConfig, trainable: Sequence[str] = ()) -> nn.Module:
    """Wrap ``cfg.targets`` linear layers of ``model`` with LoRA adapters (in place) and freeze the rest.

    Only the adapters and the parameters matching ``trainable`` globs (e.g. a task head) keep
    gradients. The adapters start at B = 0, so outputs are unchanged until training moves them; the
    model records ``lora_scaling`` so its checkpoints load merged (:func:`omnimask.model.checkpoint.merge_lora`).
    """
    try:
        from peft import LoraConfig as PeftLoraConfig
        from peft import inject_adapter_in_model
    except ImportError:
        raise ConfigError("LoRA needs peft: pip install 'omnimask[lora]' (or pip install peft)") from None
    peft_cfg = PeftLoraConfig(r=cfg.rank, lora_alpha=cfg.alpha, lora_dropout=cfg.dropout,
                              target_modules=list(cfg.targets), bias="none")
    inject_adapter_in_model(peft_cfg, model)
    for name, param in model.named_parameters():
        param.requires_grad_("lora_" in name or any(fnmatch.fnmatchcase(name, p) for p in trainable))
    model.lora_scaling = cfg.scaling  # type: ignore[assignment]
    return model


def trainable_summary(model: nn.Module) -> dict[str, Any]:
    """Parameter counts: total, trainable and frozen."""
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return {"parameters": total, "trainable": trainable, "frozen": total - trainable}


def describe(report: LoadReport | None, model: nn.Module) -> str:
    """The start-of-run summary: the load report and the trainable share."""
    counts = trainable_summary(model)
    line = f"parameters: {counts['trainable']:,} trainable of {counts['parameters']:,}"
    return f"{report.summary()}\n{line}" if report is not None else line

