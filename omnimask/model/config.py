"""ModelConfig: everything needed to build a 4M model, as one JSON-round-trippable dataclass.

The architecture comes from a size table (:data:`SIZES`: tiny, S, B, L, XL; head dim 64) or from
explicit values with ``size=None``. Modalities come from a named registry set
(:mod:`omnimask.modalities`) plus per-modality overrides — field changes for a known modality
(e.g. a reduced vocabulary) or a complete spec for a new one — so that the written ``config.json``
describes the whole model. The block hyper-parameters are one nested
:class:`~omnimask.nn.BlockOptions` (``block``; defaults :data:`RELEASED_BLOCK`). Every bad value
raises :class:`~omnimask.config.ConfigError` saying what to change.

Loss denominator (4M's ``loss_type='mod'`` averages the per-modality mean cross-entropies):

* ``"with_targets"`` (default): average over the output modalities that have at least one target
  in the batch. A modality that happens to receive no targets then does not dilute the loss.
* ``"all_present"``: the released reference — every output modality present in the batch counts,
  with loss 0 when it has no targets.

Older ``config.json`` files (written before ``block`` was nested) hold the block fields flat on the
model; :meth:`ModelConfig.upgrade_dict` moves them under ``block`` when such a file is read.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, Literal

from omnimask.config import ConfigError, to_dict
from omnimask.modalities import KINDS, ModalitySet, ModalitySpec, get_modality_set
from omnimask.nn import BlockOptions

#: Architecture per size name: width, encoder / decoder depth, heads (head dim 64 everywhere).
SIZES: dict[str, dict[str, int]] = {
    "tiny": {"dim": 64, "encoder_depth": 2, "decoder_depth": 2, "num_heads": 1},
    "S": {"dim": 512, "encoder_depth": 8, "decoder_depth": 8, "num_heads": 8},
    "B": {"dim": 768, "encoder_depth": 12, "decoder_depth": 12, "num_heads": 12},
    "L": {"dim": 1024, "encoder_depth": 24, "decoder_depth": 24, "num_heads": 16},
    "XL": {"dim": 2048, "encoder_depth": 24, "decoder_depth": 24, "num_heads": 32},
}
_ARCH_FIELDS = ("dim", "encoder_depth", "decoder_depth", "num_heads")

LossDenominator = Literal["with_targets", "all_present"]

#: The block of the released 4M models (SwiGLU, no biases): the default of :attr:`ModelConfig.block`.
RELEASED_BLOCK = BlockOptions(
    gated_mlp=True, act="silu", qkv_bias=False, proj_bias=False, mlp_bias=False, norm_bias=False
)
#: The :class:`BlockOptions` fields (flat on the model in config files written before ``block`` was nested).
BLOCK_FIELDS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(BlockOptions))


@dataclasses.dataclass(kw_only=True)
class ModelConfig:
    """A 4M encoder-decoder (defaults: the released SwiGLU / no-bias variant).

    Attributes:
        size: row of :data:`SIZES`, or None for a custom shape given by the four fields below.
        dim / encoder_depth / decoder_depth / num_heads: None = take it from ``size``; an explicit
            value must agree with ``size`` (set ``size=None`` for a custom shape).
        block: hyper-parameters of every encoder and decoder block and of the final norms
            (:class:`omnimask.nn.BlockOptions`; default :data:`RELEASED_BLOCK`).
        tie_output: a modality that is also an input predicts with its encoder token embedding as
            output matrix instead of an own ``to_logits`` head.
        drop_path: stochastic-depth rate of the last block (linearly increasing from 0).
        modality_set: registry set the modality names are looked up in (None: overrides only).
        inputs / outputs: modality names with an encoder / a decoder adapter. Empty ``inputs`` =
            every modality of the set; empty ``outputs`` = every predictable modality of the set.
        modality_overrides: name -> field changes of a set modality, or a full spec of a new one.
        loss_denominator: see the module docstring.
        init_seed: seed of the parameter initialisation.
    """

    size: str | None = "tiny"
    dim: int | None = None
    encoder_depth: int | None = None
    decoder_depth: int | None = None
    num_heads: int | None = None
    block: BlockOptions = RELEASED_BLOCK
    tie_output: bool = False
    drop_path: float = 0.0
    modality_set: str | None = "4m7"
    inputs: list[str] = dataclasses.field(default_factory=list)
    outputs: list[str] = dataclasses.field(default_factory=list)
    modality_overrides: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    loss_denominator: LossDenominator = "with_targets"
    init_seed: int = 0

    def __post_init__(self) -> None:
        self.validate()

    @staticmethod
    def upgrade_dict(data: Mapping[str, Any]) -> dict[str, Any]:
        """The dict form of a config in the current layout (:func:`omnimask.config.from_dict` calls it).

        Upgrade step for files written before ``block`` was nested: block fields found flat on the
        model move under ``block``. A partial ``block`` is completed from :data:`RELEASED_BLOCK`
        (not from the plain-ViT defaults of :class:`BlockOptions`).
        """
        out = {k: v for k, v in data.items() if k not in BLOCK_FIELDS}
        flat = {k: v for k, v in data.items() if k in BLOCK_FIELDS}
        block = data.get("block", {})
        if flat or isinstance(block, Mapping):
            given = to_dict(block) if isinstance(block, BlockOptions) else dict(block)
            out["block"] = {**to_dict(RELEASED_BLOCK), **given, **flat}
        return out

    # -- architecture -------------------------------------------------------------------------
    def _arch(self) -> dict[str, int | None]:
        values = {f: getattr(self, f) for f in _ARCH_FIELDS}
        if self.size in SIZES:
            values = {f: SIZES[self.size][f] if v is None else v for f, v in values.items()}
        return values

    def resolve(self) -> ModelConfig:
        """A copy with the architecture fields filled in from the size table (validated)."""
        # The keys are _ARCH_FIELDS, all ``int | None`` fields (mypy cannot match a dict's keys to fields).
        changes: dict[str, Any] = self._arch()
        return dataclasses.replace(self, **changes)

    def validate(self) -> None:
        """Raise :class:`ConfigError` for any value that cannot build a model."""
        if self.size is not None and self.size not in SIZES:
            raise ConfigError(f"model.size: unknown size {self.size!r}; choose one of {list(SIZES)} or None")
        for name in _ARCH_FIELDS:
            value = getattr(self, name)
            if value is None:
                if self.size is None:
                    raise ConfigError(f"model.{name} must be set when model.size is None (custom shape)")
                continue
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ConfigError(f"model.{name} must be a positive integer, got {value!r}")
            if self.size is not None and value != SIZES[self.size][name]:
                raise ConfigError(
                    f"model.{name}={value} conflicts with size {self.size!r} ({name}={SIZES[self.size][name]}); "
                    "set model.size=None to use a custom shape"
                )
        arch = self._arch()
        dim, heads = arch["dim"], arch["num_heads"]
        assert dim is not None and heads is not None
        if dim % heads:
            raise ConfigError(f"model.dim={dim} must be divisible by model.num_heads={heads}")
        if dim % 4:
            raise ConfigError(f"model.dim={dim} must be a multiple of 4 (2-D sin-cos position embeddings)")
        if not 0.0 <= self.drop_path < 1.0:
            raise ConfigError(f"model.drop_path must be in [0, 1), got {self.drop_path}")
        if self.loss_denominator not in ("with_targets", "all_present"):
            raise ConfigError(
                f"model.loss_denominator: {self.loss_denominator!r} is not 'with_targets' or 'all_present'"
            )
        self.specs()  # validates modality names, overrides and kinds

    # -- modalities ---------------------------------------------------------------------------
    def _all_specs(self) -> ModalitySet:
        base: ModalitySet = {}
        if self.modality_set is not None:
            try:
                base = dict(get_modality_set(self.modality_set))
            except KeyError as err:
                raise ConfigError(f"model.modality_set: {err.args[0]}") from None
        for name, changes in self.modality_overrides.items():
            base[name] = _apply_override(base.get(name), name, changes)
        return base

    def specs(self) -> ModalitySet:
        """The specs of the model's modalities: inputs first, then outputs-only, in config order."""
        available = self._all_specs()
        inputs = self.input_names(available)
        outputs = self.output_names(available)
        for role, names in (("inputs", inputs), ("outputs", outputs)):
            unknown = [n for n in names if n not in available]
            if unknown:
                raise ConfigError(f"model.{role}: unknown modalities {unknown}; known: {sorted(available)}")
            if len(set(names)) != len(names):
                raise ConfigError(f"model.{role} lists a modality twice: {names}")
        if not inputs or not outputs:
            raise ConfigError("a model needs at least one input and one output modality")
        bad = [n for n in outputs if not available[n].predictable]
        if bad:
            predictable = tuple(k for k, t in KINDS.items() if t.predictable)
            raise ConfigError(f"model.outputs: {bad} cannot be predicted (kinds {predictable} only)")
        names = list(inputs) + [n for n in outputs if n not in inputs]
        return {n: available[n] for n in names}

    def input_names(self, available: ModalitySet | None = None) -> list[str]:
        if self.inputs:
            return list(self.inputs)
        return list(available if available is not None else self._all_specs())

    def output_names(self, available: ModalitySet | None = None) -> list[str]:
        if self.outputs:
            return list(self.outputs)
        specs = available if available is not None else self._all_specs()
        return [n for n, s in specs.items() if s.predictable]


def _apply_override(spec: ModalitySpec | None, name: str, changes: dict[str, Any]) -> ModalitySpec:
    fields = {f.name for f in dataclasses.fields(ModalitySpec)}
    unknown = sorted(set(changes) - fields)
    if unknown:
        raise ConfigError(f"model.modality_overrides.{name}: unknown fields {unknown}; allowed: {sorted(fields)}")
    changes = dict(changes)
    if changes.get("grid") is not None:
        changes["grid"] = tuple(changes["grid"])
    if spec is None and (changes.get("kind") not in KINDS or "num_tokens" not in changes):
        raise ConfigError(
            f"model.modality_overrides.{name}: {name!r} is not in the modality set, so give a full spec "
            f"including kind (one of {tuple(KINDS)}) and num_tokens"
        )
    try:
        return spec.with_(**changes) if spec is not None else ModalitySpec(name=name, **changes)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"model.modality_overrides.{name}: {err}") from None


def spec_to_dict(spec: ModalitySpec) -> dict[str, Any]:
    """A ModalitySpec as a JSON-ready override dict (every set field except the name).

    None values are left out (they are the defaults), which also keeps ``from_dict`` happy.
    """
    out = {f.name: getattr(spec, f.name) for f in dataclasses.fields(spec) if f.name != "name"}
    out = {k: v for k, v in out.items() if v is not None}
    if "grid" in out:
        out["grid"] = list(out["grid"])
    return out


def config_for_specs(
    specs: ModalitySet, inputs: list[str] | None = None, outputs: list[str] | None = None, **fields: Any
) -> ModelConfig:
    """A ModelConfig whose modalities are exactly ``specs`` (written out in full, no registry set).

    ``inputs`` defaults to every spec, ``outputs`` to every predictable one; other ModelConfig fields
    are passed through ``fields``.
    """
    return ModelConfig(
        modality_set=None,
        modality_overrides={name: spec_to_dict(s) for name, s in specs.items()},
        inputs=list(inputs) if inputs is not None else list(specs),
        outputs=list(outputs) if outputs is not None else [n for n, s in specs.items() if s.predictable],
        **fields,
    )
