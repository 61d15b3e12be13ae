"""Dirichlet alpha mixtures: which modalities feed the encoder and which the decoder, per sample.

4M draws, for every training sample, one *component* of a mixture; the component gives each modality
an input alpha and a target alpha (the Dirichlet concentration of its share of the token budgets) and,
for sequence modalities, a *keep scheme* (``random``: keep probability ~ U(0, 1); ``all``: keep
everything; ``binary``: keep all or nothing, each with probability ½).

Formats read by :func:`load_alpha_mixture` (YAML or JSON, a path or an already parsed mapping):

* released 4M flat form (``mix_mod7_*.yaml``): top-level keys are modality names, each with
  ``input_alphas``, ``target_alphas`` and optionally ``keep`` lists, one entry per component;
* released 4M-21 form: ``sampling_weights: [...]`` plus ``alphas_mixture: {<modality>: {...}}``;
* omnimask form (what :func:`save_alpha_mixture` writes and ``to_dict`` of the dataclass gives)::

      sampling_weights: [1.0, 1.0]      # optional; default uniform over components
      modalities:
        caption: {input_alphas: [0.0, 0.5], target_alphas: [0.5, 0.5], keep: [random, all]}
        tok_rgb@224: {input_alphas: [0.0, 0.5], target_alphas: [0.5, 0.5]}

``keep`` defaults to ``random`` for every component. Mixtures are also built in Python
(:func:`all2all`, :func:`rgb2all`) and composed with :func:`combine_mixtures`.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import yaml

from omnimask.config import ConfigError

KeepScheme = Literal["random", "all", "binary"]
KEEP_SCHEMES: tuple[str, ...] = ("random", "all", "binary")
_ENTRY_KEYS = {"input_alphas", "target_alphas", "keep"}


@dataclasses.dataclass(frozen=True, kw_only=True)
class ModalityAlphas:
    """Alphas of one modality, one entry per mixture component (α = 0: never chosen)."""

    input_alphas: tuple[float, ...]
    target_alphas: tuple[float, ...]
    keep: tuple[KeepScheme, ...] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "input_alphas", tuple(float(a) for a in self.input_alphas))
        object.__setattr__(self, "target_alphas", tuple(float(a) for a in self.target_alphas))
        n = len(self.input_alphas)
        if n == 0 or len(self.target_alphas) != n:
            raise ConfigError(
                f"input_alphas {list(self.input_alphas)} and target_alphas {list(self.target_alphas)} "
                "need the same, non-zero number of entries (one per mixture component)"
            )
        if any(a < 0 or a != a for a in self.input_alphas + self.target_alphas):
            raise ConfigError(f"alphas must be >= 0, got {list(self.input_alphas)} / {list(self.target_alphas)}")
        keep = ("random",) * n if self.keep is None else tuple(self.keep)
        if len(keep) != n:
            raise ConfigError(f"keep {list(keep)} needs {n} entries, one per mixture component")
        bad = [k for k in keep if k not in KEEP_SCHEMES]
        if bad:
            raise ConfigError(f"unknown keep scheme(s) {bad}; use one of {list(KEEP_SCHEMES)}")
        object.__setattr__(self, "keep", keep)

    @property
    def num_components(self) -> int:
        return len(self.input_alphas)

    @property
    def keep_schemes(self) -> tuple[KeepScheme, ...]:
        """``keep`` as ``__post_init__`` leaves it: one scheme per component, never None."""
        assert self.keep is not None
        return self.keep


@dataclasses.dataclass(frozen=True, kw_only=True)
class AlphaMixture:
    """A mixture of Dirichlet alpha configurations over named modalities.

    Attributes:
        modalities: per-modality alphas; every entry has the same number of components.
        sampling_weights: relative probability of each component (``None``: uniform).
    """

    modalities: dict[str, ModalityAlphas]
    sampling_weights: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        if not self.modalities:
            raise ConfigError("an alpha mixture needs at least one modality")
        counts = {name: a.num_components for name, a in self.modalities.items()}
        if len(set(counts.values())) != 1:
            raise ConfigError(f"all modalities need the same number of mixture components, got {counts}")
        if self.sampling_weights is not None:
            w = tuple(float(x) for x in self.sampling_weights)
            if len(w) != self.num_components or any(x < 0 for x in w) or sum(w) <= 0:
                raise ConfigError(
                    f"sampling_weights {list(w)} must be {self.num_components} non-negative numbers "
                    "with a positive sum (one per mixture component)"
                )
            object.__setattr__(self, "sampling_weights", w)

    @property
    def num_components(self) -> int:
        return next(iter(self.modalities.values())).num_components

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.modalities)

    def weights(self) -> tuple[float, ...]:
        """Normalised component probabilities."""
        w = self.sampling_weights or (1.0,) * self.num_components
        total = sum(w)
        return tuple(x / total for x in w)

    def restrict(self, names: Iterable[str]) -> AlphaMixture:
        """The mixture over ``names`` only (an unknown name is an error)."""
        names = list(names)
        missing = [n for n in names if n not in self.modalities]
        if missing:
            raise ConfigError(f"modalities {missing} have no alphas in this mixture (it has {list(self.names)})")
        return AlphaMixture(modalities={n: self.modalities[n] for n in names}, sampling_weights=self.sampling_weights)

    def to_dict(self) -> dict[str, Any]:
        """The omnimask form (JSON/YAML-ready)."""
        out: dict[str, Any] = {}
        if self.sampling_weights is not None:
            out["sampling_weights"] = list(self.sampling_weights)
        out["modalities"] = {
            name: {
                "input_alphas": list(a.input_alphas),
                "target_alphas": list(a.target_alphas),
                "keep": list(a.keep_schemes),
            }
            for name, a in self.modalities.items()
        }
        return out


def _entry(name: str, raw: Any) -> ModalityAlphas:
    if not isinstance(raw, Mapping) or not {"input_alphas", "target_alphas"} <= set(raw):
        raise ConfigError(
            f"mixture entry {name!r} must be a mapping with input_alphas and target_alphas lists, got {raw!r}"
        )
    unknown = sorted(set(raw) - _ENTRY_KEYS)
    if unknown:
        raise ConfigError(f"mixture entry {name!r}: unknown key(s) {unknown}; allowed: {sorted(_ENTRY_KEYS)}")
    return ModalityAlphas(input_alphas=raw["input_alphas"], target_alphas=raw["target_alphas"], keep=raw.get("keep"))


def parse_alpha_mixture(data: Mapping[str, Any]) -> AlphaMixture:
    """An :class:`AlphaMixture` from a parsed mapping in any of the three forms (module docstring)."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"an alpha mixture must be a mapping, got {type(data).__name__}")
    data = dict(data)
    weights = data.pop("sampling_weights", None)
    for key in ("modalities", "alphas_mixture"):
        if key in data:
            body = data.pop(key)
            if data:
                raise ConfigError(f"unknown top-level key(s) {sorted(data)} next to {key!r}")
            break
    else:
        body = data  # released flat form: modality names at the top level
    if not isinstance(body, Mapping):
        raise ConfigError(f"the modality table of an alpha mixture must be a mapping, got {body!r}")
    return AlphaMixture(
        modalities={str(name): _entry(str(name), raw) for name, raw in body.items()},
        sampling_weights=None if weights is None else tuple(weights),
    )


def load_alpha_mixture(source: str | Path | Mapping[str, Any] | AlphaMixture) -> AlphaMixture:
    """Read an alpha mixture from a YAML / JSON file, a parsed mapping, or pass one through.

    Args:
        source: path to a released 4M ``alphas_mixture`` YAML, an omnimask mixture file, a mapping in
            one of those forms, or an :class:`AlphaMixture`.
    """
    if isinstance(source, AlphaMixture):
        return source
    if isinstance(source, Mapping):
        return parse_alpha_mixture(source)
    path = Path(source)
    if not path.is_file():
        raise ConfigError(f"alpha mixture file {str(path)!r} does not exist; pass a YAML/JSON path or a mapping")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML/JSON ({err})") from err
    try:
        return parse_alpha_mixture(data)
    except ConfigError as err:
        raise ConfigError(f"{path}: {err}") from err


def save_alpha_mixture(mixture: AlphaMixture, path: str | Path) -> Path:
    """Write ``mixture`` in the omnimask form (JSON for ``.json``, YAML otherwise)."""
    path = Path(path)
    data = mixture.to_dict()
    text = json.dumps(data, indent=2) if path.suffix == ".json" else yaml.safe_dump(data, sort_keys=False)
    path.write_text(text)
    return path


def all2all(alpha: float, modalities: Iterable[str], *, input_only: Iterable[str] = ()) -> AlphaMixture:
    """One component where every modality is input and target with the same alpha.

    Args:
        alpha: Dirichlet concentration for every modality (small: few modalities per sample).
        modalities: modality names.
        input_only: modalities that are never targets (e.g. ``rgb@224`` pixels): target alpha 0.
    """
    no_target = set(input_only)
    return AlphaMixture(
        modalities={
            m: ModalityAlphas(input_alphas=(alpha,), target_alphas=(0.0 if m in no_target else alpha,))
            for m in modalities
        }
    )


def rgb2all(
    alpha: float, modalities: Iterable[str], *, rgb: str = "rgb@224", rgb_alpha: float = 1000.0
) -> AlphaMixture:
    """One component where ``rgb`` takes (almost) the whole input budget and the others are targets.

    Args:
        alpha: target concentration of every modality other than ``rgb``.
        modalities: modality names (``rgb`` must be among them).
        rgb: the conditioning modality.
        rgb_alpha: its input alpha (4M uses 1000, i.e. the entire input budget).
    """
    names = list(modalities)
    if rgb not in names:
        raise ConfigError(f"rgb2all: conditioning modality {rgb!r} is not among {names}")
    return AlphaMixture(
        modalities={
            m: ModalityAlphas(
                input_alphas=(rgb_alpha if m == rgb else 0.0,), target_alphas=(0.0 if m == rgb else alpha,)
            )
            for m in names
        }
    )


def one_way(
    inputs: Iterable[str], targets: Iterable[str], *, alpha: float = 1.0, whole: Iterable[str] = ()
) -> AlphaMixture:
    """One component conditioned on ``inputs`` only and predicting ``targets`` only (others unused).

    Args:
        inputs: conditioning modalities: input alpha ``alpha``, never targets.
        targets: predicted modalities: target alpha ``alpha``, never inputs.
        alpha: Dirichlet concentration of both budget splits.
        whole: inputs given whole rather than sampled (e.g. a caption: keep scheme ``all``).
    """
    inputs, targets, whole = list(inputs), list(targets), set(whole)
    both = set(inputs) & set(targets)
    if both or not inputs or not targets:
        raise ConfigError(f"one_way needs disjoint, non-empty inputs and targets; got {inputs} -> {targets}")
    table = {m: ModalityAlphas(input_alphas=(alpha,), target_alphas=(0.0,), keep=("all",) if m in whole else None)
             for m in inputs}
    table.update({m: ModalityAlphas(input_alphas=(0.0,), target_alphas=(alpha,)) for m in targets})
    return AlphaMixture(modalities=table)


def combine_mixtures(parts: Sequence[AlphaMixture | tuple[AlphaMixture, float]]) -> AlphaMixture:
    """Concatenate mixtures' components; each part's total sampling probability is its weight.

    Args:
        parts: mixtures, or ``(mixture, weight)`` pairs (weight 1 when omitted). Within a part the
            components keep their relative sampling weights. A modality missing from a part gets α = 0
            (never used) in that part's components.
    """
    pairs = [p if isinstance(p, tuple) else (p, 1.0) for p in parts]
    if not pairs:
        raise ConfigError("combine_mixtures needs at least one mixture")
    names: list[str] = []
    for mix, _ in pairs:
        names += [n for n in mix.names if n not in names]
    fields: dict[str, dict[str, list[Any]]] = {n: {"input_alphas": [], "target_alphas": [], "keep": []} for n in names}
    weights: list[float] = []
    for mix, weight in pairs:
        k = mix.num_components
        weights += [weight * w for w in mix.weights()]
        for n in names:
            a = mix.modalities.get(n)
            fields[n]["input_alphas"] += list(a.input_alphas) if a else [0.0] * k
            fields[n]["target_alphas"] += list(a.target_alphas) if a else [0.0] * k
            fields[n]["keep"] += list(a.keep_schemes) if a else ["random"] * k
    uniform = len(set(weights)) == 1
    return AlphaMixture(
        modalities={
            n: ModalityAlphas(
                input_alphas=tuple(f["input_alphas"]), target_alphas=tuple(f["target_alphas"]), keep=tuple(f["keep"])
            )
            for n, f in fields.items()
        },
        sampling_weights=None if uniform else tuple(weights),
    )
