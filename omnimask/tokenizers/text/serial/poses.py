"""Human poses (4M-21's ``human_poses`` modality) as text, and back.

4M-21 describes each person by SMPL parameters from a pose estimator and writes them as 39 words::

    human v0=X0 v1=Y0 v2=X1 v3=Y1  pose <8 words>  global <9 words>  camera <3 words>  shape <10 words>

* the box is written like a detection box (fractions, ``round(x · 999)``);
* ``pose``: 8 ids (0..1023) of the pose tokenizer, id ``k`` written ``v0=k`` below 512 and
  ``v1=k−512`` above;
* ``global``: the 3×3 global-orientation matrix, row-major, each entry in [−1, 1] as
  ``v0=round(499.5·x + 499.5)``;
* ``camera``: 3 weak-perspective camera values, clipped to [−1, 19], as ``v0=round(49.95·x + 49.95)``;
* ``shape``: 10 SMPL betas in [−3, 3] as ``v0=round(166.5·x + 499.5)``.

The four groups follow the box in an order 4M-21 shuffles per person; people are joined by spaces,
and an image without people is the single word ``none``. (4M leaves betas unclipped and ends each
person with a space; we clip betas and global entries to their ranges so that every value is one
token, and leave the trailing space out, which gives the same token ids.)
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from omnimask.tokenizers.text.serial.detection import COORD_BINS, quantize_unit
from omnimask.tokenizers.text.serial.parsing import (
    ParseResult,
    clip_words,
    read_split_id,
    read_values,
    split_at,
    split_id_word,
    text_words,
)

#: Size of the pose tokenizer's codebook; ids below 512 are written v0=, the rest v1=.
POSE_VOCAB = 1024


@dataclass(frozen=True)
class _Scalar:
    """A continuous group: ``count`` values in ``[lo, hi]`` written ``v0=round(scale·x + offset)``."""

    count: int
    lo: float
    hi: float
    scale: float
    offset: float

    def quantize(self, x: float) -> int:
        if not math.isfinite(x):
            raise ValueError(f"pose value {x!r} is not finite")
        return round(self.scale * min(max(float(x), self.lo), self.hi) + self.offset)

    def dequantize(self, q: int) -> float:
        return (q - self.offset) / self.scale


_GROUPS: dict[str, _Scalar] = {
    "global": _Scalar(count=9, lo=-1.0, hi=1.0, scale=499.5, offset=499.5),
    "camera": _Scalar(count=3, lo=-1.0, hi=19.0, scale=49.95, offset=49.95),
    "shape": _Scalar(count=10, lo=-3.0, hi=3.0, scale=166.5, offset=499.5),
}
POSE_TOKENS = 8
#: The groups in the order before 4M-21's per-person shuffle.
GROUP_ORDER: tuple[str, ...] = ("pose", "global", "camera", "shape")


@dataclass(frozen=True)
class HumanPose:
    """One person: box (fractions), 8 pose-token ids, 3×3 global orientation, 10 betas, 3 camera values."""

    box: tuple[float, float, float, float]
    pose_tokens: tuple[int, ...]
    global_orient: tuple[float, ...]
    betas: tuple[float, ...]
    camera: tuple[float, ...]

    def group(self, name: str) -> tuple:
        return {"pose": self.pose_tokens, "global": self.global_orient, "camera": self.camera,
                "shape": self.betas}[name]  # fmt: skip


def _pose_words(tokens: Sequence[int]) -> list[str]:
    if len(tokens) != POSE_TOKENS:
        raise ValueError(f"pose_tokens must be {POSE_TOKENS} ids in [0, {POSE_VOCAB}); got {tokens}")
    return [split_id_word(t, POSE_VOCAB) for t in tokens]


def _person_words(person: HumanPose, order: Sequence[str]) -> list[str]:
    words = ["human"] + [f"v{a}={quantize_unit(x, COORD_BINS, 'pose box')}" for a, x in enumerate(person.box)]
    for name in order:
        words.append(name)
        if name == "pose":
            words += _pose_words(person.pose_tokens)
            continue
        spec, values = _GROUPS[name], person.group(name)
        if len(values) != spec.count:
            raise ValueError(f"pose group {name!r} needs {spec.count} values, got {len(values)}")
        words += [f"v0={spec.quantize(x)}" for x in values]
    return words


def serialize_poses(people: Iterable[HumanPose], *, rng: np.random.Generator | None = None) -> str:
    """4M-21's text for ``people`` (``"none"`` when there are none).

    Args:
        people: the persons, written in the given order.
        rng: when given, each person's four groups are shuffled with it (as 4M-21 does in
            training); when ``None`` they follow :data:`GROUP_ORDER`.
    """
    out: list[str] = []
    for person in people:
        order = GROUP_ORDER if rng is None else tuple(GROUP_ORDER[i] for i in rng.permutation(4))
        out += _person_words(person, order)
    return " ".join(out) if out else "none"


def _read_group(name: str, words: list[str]) -> tuple[tuple | None, str]:
    if name == "pose":
        if len(words) != POSE_TOKENS:
            return None, f"'pose' needs {POSE_TOKENS} values, found {len(words)}"
        ids = [read_split_id(w) for w in words]
        if None in ids:
            bad = words[ids.index(None)]
            return None, f"'pose' value {bad!r} is not a v0=/v1= value below 512"
        return tuple(ids), ""
    spec = _GROUPS[name]
    values, why = read_values(words, (0,) * spec.count, 1000)
    if values is None or len(words) != spec.count:
        return None, f"{name!r} needs {spec.count} v0= values: {why or f'found {len(words)} words'}"
    return tuple(spec.dequantize(q) for q in values), ""


def _read_person(words: list[str]) -> tuple[HumanPose | None, str]:
    box, why = read_values(words, (0, 1, 2, 3), COORD_BINS)
    if box is None:
        return None, f"box: {why}"
    groups: dict[str, list[str]] = {}
    current = None
    for w in words[4:]:
        if w in GROUP_ORDER:
            if w in groups:
                return None, f"group {w!r} appears twice"
            current = groups[w] = []
        elif current is None:
            return None, f"stray word {w!r} between the box and the first group"
        else:
            current.append(w)
    read: dict[str, tuple] = {}
    for name in GROUP_ORDER:
        if name not in groups:
            return None, f"group {name!r} is missing"
        values, why = _read_group(name, groups[name])
        if values is None:
            return None, why
        read[name] = values
    scale = COORD_BINS - 1
    return HumanPose(
        box=tuple(v / scale for v in box),  # type: ignore[arg-type]
        pose_tokens=read["pose"],
        global_orient=read["global"],
        betas=read["shape"],
        camera=read["camera"],
    ), ""


def parse_poses(text: str) -> ParseResult[HumanPose]:
    """People from (possibly malformed) pose text; never raises.

    ``none`` (or empty text) is no people. A person starts at each ``human`` word; one whose box or
    any group is missing, repeated, of the wrong length or out of range is dropped with a warning.
    Values are mapped back to the centre of their bin.
    """
    result: ParseResult[HumanPose] = ParseResult()
    words = text_words(text, result.warnings)
    head, people = split_at(words, "human")
    if head and head != ["none"]:
        result.warnings.append(f"skipped words before the first person: {clip_words(head)!r}")
    for person_words in people:
        person, why = _read_person(person_words)
        if person is None:
            result.warnings.append(f"dropped person {clip_words(['human', *person_words])!r}: {why}")
        else:
            result.items.append(person)
    return result
