"""Masking one training sample: 4M's multimodal masking (``UnifiedMasking``) as a pure numpy function.

Per sample: pick a mixture component, draw input and target budgets (:mod:`.budgets`), then mask each
modality by its kind — random disjoint positions for image-like kinds (:mod:`.image`), span masking
for sequences, chunk masking when a sequence is given as a list of chunks (:mod:`.sequence`,
:mod:`.metadata`). Cheap enough for DataLoader workers; :func:`omnimask.masking.collate` batches the
results.

Raw sample format (``dict[str, array | list]``, keys not in ``specs`` are ignored):

* ``image_tokens`` / ``global_tokens``: (N,) int ids (an (h, w) grid is flattened row-major);
* ``pixels``: (C, H, W) float; masks cover the N = h·w patches of the spec's grid;
* ``sequence``: 1-D int ids *without* ``[EOS]`` (appended here), or a list of id chunks;
* ``embedding_sequence``: (n, C) float with n ≤ N (rows beyond n are padding, never kept).

A modality absent from the sample gets no budget and no entry in the result. Budgets use up to
``max_tokens`` per modality: N for position kinds, the spec's ``num_tokens`` for sequences (or an
override in :attr:`MaskingConfig.max_tokens`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from omnimask.config import ConfigError
from omnimask.masking.budgets import Budgets, draw_budgets
from omnimask.masking.image import position_masks
from omnimask.masking.masked import MaskedModality
from omnimask.masking.metadata import chunk_units, is_chunked
from omnimask.masking.mixture import AlphaMixture, all2all, load_alpha_mixture
from omnimask.masking.sequence import layout_ids, mask_units, token_units
from omnimask.modalities import ModalitySpec


@dataclasses.dataclass(kw_only=True)
class MaskingConfig:
    """How samples are masked for training.

    Attributes:
        num_input_tokens: encoder tokens per sample (lower bound when ``num_input_tokens_max`` is set).
        num_target_tokens: decoder tokens per sample (likewise).
        num_input_tokens_max: if set, the input total is drawn uniformly in
            ``[num_input_tokens, num_input_tokens_max]`` per sample.
        num_target_tokens_max: same for targets.
        mixture: the alpha mixture (see :mod:`.mixture`).
        mixture_path: a YAML/JSON mixture file (released 4M formats or ours); replaces ``mixture`` when set.
        keep_prob_decay: factor on a sequence's keep probability while its input is over budget.
        max_tokens: per-sequence-modality overrides of ``max_tokens`` (the spec's ``num_tokens``).
    """

    num_input_tokens: int = 128
    num_target_tokens: int = 128
    num_input_tokens_max: int | None = None
    num_target_tokens_max: int | None = None
    mixture: AlphaMixture | None = None
    mixture_path: str | None = None
    keep_prob_decay: float = 0.9
    max_tokens: dict[str, int] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        for lo, hi, name in (
            (self.num_input_tokens, self.num_input_tokens_max, "input"),
            (self.num_target_tokens, self.num_target_tokens_max, "target"),
        ):
            if lo < 0 or (hi is not None and hi < lo):
                raise ConfigError(f"num_{name}_tokens={lo} / num_{name}_tokens_max={hi}: need 0 <= min <= max")
        if not 0.0 < self.keep_prob_decay < 1.0:
            raise ConfigError(f"keep_prob_decay must be in (0, 1), got {self.keep_prob_decay}")

    def resolve_mixture(self) -> AlphaMixture:
        """The mixture to use: the file at ``mixture_path`` if set, else ``mixture``."""
        if self.mixture_path:
            return load_alpha_mixture(self.mixture_path)
        if self.mixture is None:
            raise ConfigError("masking needs an alpha mixture: set masking.mixture or masking.mixture_path")
        return self.mixture


def check_budgets(specs: Mapping[str, ModalitySpec], cfg: MaskingConfig) -> None:
    """Refuse token budgets larger than the modalities of ``specs`` can provide (they would be cut silently).

    A sample holds at most every modality's ``max_tokens`` (the spec's ``num_tokens`` or the config's
    override) as inputs, and those of its discrete modalities as targets.

    Raises:
        ConfigError: naming the first ``masking.num_*_tokens[_max]`` key over its capacity.
    """
    sizes = {name: cfg.max_tokens.get(name, spec.num_tokens) for name, spec in specs.items()}
    capacity = {"input": sum(sizes.values()), "target": sum(n for name, n in sizes.items() if specs[name].is_discrete)}
    for role, most in capacity.items():
        for key in (f"num_{role}_tokens", f"num_{role}_tokens_max"):
            value = getattr(cfg, key)
            if value is not None and value > most:
                raise ConfigError(f"masking.{key}={value} is more than the modalities hold as {role}s ({most} "
                                  f"tokens in all); set it to at most {most}")


# Per-kind maskers, dispatched through _MASKERS, all called as (spec, raw value, input budget, target budget,
# max tokens, keep scheme, rng, keep-probability decay); position kinds ignore what only sequences use.
def _mask_tokens(
    spec: ModalitySpec, raw: Any, n_in: int, n_tgt: int, _max: int, _keep: str, rng: np.random.Generator, _decay: float
) -> MaskedModality:
    ids = np.asarray(raw, dtype=np.int64).reshape(-1)
    if ids.shape[0] != spec.num_tokens:
        raise ValueError(f"{spec.name}: expected {spec.num_tokens} token ids, got shape {np.shape(raw)}")
    input_keep, target_keep = position_masks(spec.num_tokens, n_in, n_tgt, rng)
    return MaskedModality(ids, input_keep, target_keep, n_in, n_tgt)


def _mask_pixels(
    spec: ModalitySpec, raw: Any, n_in: int, n_tgt: int, _max: int, _keep: str, rng: np.random.Generator, _decay: float
) -> MaskedModality:
    pixels = np.asarray(raw, dtype=np.float32)
    size = spec.image_size
    assert size is not None  # a pixels spec has a grid and a patch_size (ModalitySpec checks both)
    expected = (spec.channels, *size)
    if pixels.shape != expected:
        raise ValueError(f"{spec.name}: expected pixels of shape (C, H, W) = {expected}, got {pixels.shape}")
    input_keep, target_keep = position_masks(spec.num_tokens, n_in, 0, rng)  # pixels are never targets
    return MaskedModality(pixels, input_keep, target_keep, n_in, 0)


def _embedding_rows(spec: ModalitySpec, raw: Any) -> np.ndarray:
    values = np.asarray(raw, dtype=np.float32)
    if values.ndim != 2 or values.shape[1] != spec.input_dim or values.shape[0] > spec.num_tokens:
        raise ValueError(
            f"{spec.name}: expected an (n <= {spec.num_tokens}, {spec.input_dim}) embedding array, got {values.shape}"
        )
    return values


def _mask_embeddings(
    spec: ModalitySpec, raw: Any, n_in: int, n_tgt: int, _max: int, _keep: str, rng: np.random.Generator, _decay: float
) -> MaskedModality:
    values = _embedding_rows(spec, raw)
    padded = np.zeros((spec.num_tokens, spec.input_dim), dtype=np.float32)
    padded[: values.shape[0]] = values
    input_keep, target_keep = position_masks(spec.num_tokens, n_in, 0, rng, available=values.shape[0])
    return MaskedModality(padded, input_keep, target_keep, n_in, 0)


def _mask_sequence(
    spec: ModalitySpec,
    raw: Any,
    n_in: int,
    n_tgt: int,
    max_tokens: int,
    keep: str,
    rng: np.random.Generator,
    decay: float,
) -> MaskedModality:
    if isinstance(raw, (str, bytes)):
        raise TypeError(f"{spec.name}: masking takes token ids, not text; tokenize {raw[:40]!r} first")
    units = chunk_units(raw, max_tokens) if is_chunked(raw) else token_units(raw, max_tokens)
    input_ids, target_ids = mask_units(
        units, input_budget=n_in, target_budget=n_tgt, keep_scheme=keep, rng=rng, decay=decay
    )
    return layout_ids(input_ids, target_ids, input_budget=n_in, target_budget=n_tgt, max_tokens=max_tokens)


_MaskFn = Callable[..., MaskedModality]
_MASKERS: dict[str, _MaskFn] = {
    "image_tokens": _mask_tokens,
    "global_tokens": _mask_tokens,
    "pixels": _mask_pixels,
    "embedding_sequence": _mask_embeddings,
    "sequence": _mask_sequence,
}


class Masker:
    """4M masking for a fixed modality set and config; call it on one raw sample at a time.

    Build once (it validates the mixture against the specs and precomputes alpha tables), then call
    ``masker(sample, rng)`` per sample. Picklable, so it can live in DataLoader workers.
    """

    def __init__(self, specs: Mapping[str, ModalitySpec], cfg: MaskingConfig) -> None:
        self.specs = dict(specs)
        self.cfg = cfg
        self.names = tuple(self.specs)
        mixture = cfg.resolve_mixture()
        missing = [n for n in self.names if n not in mixture.modalities]
        if missing:
            raise ConfigError(
                f"modalities {missing} have no alphas in the mixture (it covers {list(mixture.names)}); "
                "add them to the mixture or leave them out of the modality set"
            )
        mixture = mixture.restrict(self.names)
        unknown = sorted(set(cfg.max_tokens) - set(self.names))
        if unknown:
            raise ConfigError(f"masking.max_tokens names unknown modalities {unknown}; known: {list(self.names)}")
        for name, spec in self.specs.items():
            if name in cfg.max_tokens and not spec.is_sequence:
                raise ConfigError(f"masking.max_tokens.{name}: only sequence modalities take a max_tokens override")
            if not spec.is_sequence and set(mixture.modalities[name].keep_schemes) != {"random"}:
                raise ConfigError(f"mixture entry {name!r}: keep schemes apply to sequence modalities only")
        self.mixture = mixture
        self.max_tokens = [cfg.max_tokens.get(n, s.num_tokens) for n, s in self.specs.items()]
        check_budgets(self.specs, cfg)
        per_mod_in = [mixture.modalities[n].input_alphas for n in self.names]
        per_mod_tgt = [mixture.modalities[n].target_alphas for n in self.names]
        self.input_alphas = [list(c) for c in zip(*per_mod_in)]  # (K, M)
        self.target_alphas = [list(c) for c in zip(*per_mod_tgt)]  # (K, M)
        self.keep = [mixture.modalities[n].keep_schemes for n in self.names]
        self.cum_weights = np.cumsum(mixture.weights()).tolist()
        self.can_target = [s.is_discrete for s in self.specs.values()]
        self.positional = [s.positional for s in self.specs.values()]
        self._fixed_capacity = not any(s.is_vectors for s in self.specs.values())
        self._target_capacity = [c if t else 0 for c, t in zip(self.max_tokens, self.can_target)]
        # Per modality, what every call needs (looked up once here instead of per sample).
        self._plan = [
            (j, name, spec, _MASKERS[spec.kind], int(self.max_tokens[j]), self.keep[j])
            for j, (name, spec) in enumerate(self.specs.items())
        ]

    def _capacity(self, sample: Mapping[str, Any]) -> tuple[list[int], list[int]]:
        """Input and target capacity of each modality in ``sample`` (read-only lists)."""
        if self._fixed_capacity and all(name in sample for name in self.names):
            return self.max_tokens, self._target_capacity  # the usual case: all present, none of variable length
        cap = [0] * len(self.names)
        for j, (name, spec) in enumerate(self.specs.items()):
            if name not in sample:
                continue
            if spec.is_vectors:
                cap[j] = _embedding_rows(spec, sample[name]).shape[0]
            else:
                cap[j] = self.max_tokens[j]
        return cap, [c if t else 0 for c, t in zip(cap, self.can_target)]

    def _total(self, lo: int, hi: int | None, rng: np.random.Generator) -> int:
        return lo if hi is None else int(rng.integers(lo, hi + 1))

    def draw_budgets(self, sample: Mapping[str, Any], rng: np.random.Generator) -> Budgets:
        """The mixture component and input / target budgets for ``sample`` (lists in ``self.names`` order)."""
        cap, target_cap = self._capacity(sample)
        cfg = self.cfg
        return draw_budgets(
            input_alphas=self.input_alphas,
            target_alphas=self.target_alphas,
            cum_weights=self.cum_weights,
            num_input_tokens=self._total(cfg.num_input_tokens, cfg.num_input_tokens_max, rng),
            num_target_tokens=self._total(cfg.num_target_tokens, cfg.num_target_tokens_max, rng),
            input_capacity=cap,
            target_capacity=target_cap,
            positional=self.positional,
            rng=rng,
        )

    def __call__(self, sample: Mapping[str, Any], rng: np.random.Generator | int) -> dict[str, MaskedModality]:
        """Mask one raw sample (format in the module docstring); same ``rng`` state → same result."""
        rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        budgets = self.draw_budgets(sample, rng)
        k, inputs, targets, decay = budgets.component, budgets.input, budgets.target, self.cfg.keep_prob_decay
        out: dict[str, MaskedModality] = {}
        for j, name, spec, mask_fn, max_tokens, keep in self._plan:
            if name in sample:
                out[name] = mask_fn(spec, sample[name], inputs[j], targets[j], max_tokens, keep[k], rng, decay)
        return out


class WholeInputs(Masker):
    """Every token of every modality a sample has is an input, none is a target.

    What a task head reads (:class:`omnimask.model.heads.TaskModel`): the encoder sees whole inputs,
    the loss comes from labels instead of masked tokens. Same call and output as :class:`Masker`.
    """

    def __init__(self, specs: Mapping[str, ModalitySpec]) -> None:
        names = list(specs)
        total = sum(s.num_tokens for s in specs.values())
        super().__init__(specs, MaskingConfig(num_input_tokens=total, num_target_tokens=0,
                                              mixture=all2all(1.0, names, input_only=names)))

    def draw_budgets(self, sample: Mapping[str, Any], rng: np.random.Generator) -> Budgets:
        cap, _ = self._capacity(sample)
        return Budgets(0, sum(cap), 0, list(cap), [0] * len(cap))


def mask_sample(
    sample: Mapping[str, Any],
    specs: Mapping[str, ModalitySpec],
    cfg: MaskingConfig,
    rng: np.random.Generator | int,
) -> dict[str, MaskedModality]:
    """Mask one raw sample (builds a :class:`Masker` each call; build one yourself inside loops)."""
    return Masker(specs, cfg)(sample, rng)
