"""Caption accuracy for 4M's RGB→caption evaluation: are the colours, shapes and counts it states right?

A generated caption is read with SynthWorld's vocabulary (:mod:`omnimask.data.synthworld.config`:
colour names, shape names and their plurals, materials) plus English number words, and every
statement it makes is checked against the scene's visible objects (its ``det`` records):

* **shapes** — each shape noun (``cube``, ``tori`` …) is right when an object of that class is visible;
* **colours** — each colour word (``red`` …) is right when an object of that colour is visible;
* **objects** — each colour–shape phrase (``red cube``) is right when such an object is visible;
* **counts** — ``<number> object(s)`` (and ``empty`` / ``nothing`` / ``bare`` for an empty scene) must
  equal the number of visible objects; a counted noun phrase (``two shiny red cubes``, ``a cone``)
  must equal the number of visible objects with every attribute the phrase names. ``the red cube``
  names an object without counting it.

The scores are precisions (right statements / statements made, pooled over the set), so a caption
that states nothing adds nothing; ``coverage`` — the share of visible objects whose colour–shape
pair the caption mentions — shows how much it leaves out. A ground-truth SynthWorld caption scores
1 on every precision and on coverage.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from omnimask.data.synthworld.config import COLORS, MATERIALS, SHAPE_PLURALS, SHAPES

#: Number words a caption may count with ("a" / "an" count one when they lead a noun phrase).
NUMBER_WORDS: dict[str, int] = {
    "no": 0, "a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
    "seven": 7, "eight": 8, "nine": 9, "ten": 10,
}  # fmt: skip
#: Words that state an empty scene.
EMPTY_WORDS: frozenset[str] = frozenset({"empty", "nothing", "bare"})
#: Nouns that count the objects of the whole scene.
OBJECT_NOUNS: frozenset[str] = frozenset({"object", "objects"})
SHAPE_OF_WORD: dict[str, str] = {**{s: s for s in SHAPES}, **{p: s for s, p in SHAPE_PLURALS.items()}}
ATTRIBUTES: tuple[str, ...] = ("colours", "shapes", "objects", "counts")


@dataclasses.dataclass(frozen=True)
class Phrase:
    """A shape noun with the attributes in front of it; ``count`` None when it is not counted."""

    shape: str
    colour: str | None = None
    material: str | None = None
    count: int | None = None


@dataclasses.dataclass(frozen=True)
class CaptionClaims:
    """What a caption states: noun phrases, colour words, and counts of all objects."""

    phrases: tuple[Phrase, ...]
    colours: tuple[str, ...]
    totals: tuple[int, ...]


def words(text: str) -> list[str]:
    """Lower-case words of ``text`` (punctuation dropped)."""
    return re.findall(r"[a-z]+", text.lower())


def parse_caption(text: str) -> CaptionClaims:
    """The statements of a caption (see the module docstring)."""
    tokens = words(text)
    phrases, totals = [], []
    for i, word in enumerate(tokens):
        if word in SHAPE_OF_WORD:
            colour = material = None
            j = i - 1
            while j >= 0 and (tokens[j] in COLORS or tokens[j] in MATERIALS) and i - j <= 2:
                if tokens[j] in COLORS and colour is None:
                    colour = tokens[j]
                elif tokens[j] in MATERIALS and material is None:
                    material = tokens[j]
                j -= 1
            count = NUMBER_WORDS.get(tokens[j]) if j >= 0 else None
            if count == 1 and word != SHAPE_OF_WORD[word]:
                count = None  # "a ... cubes" (a plural) counts nothing
            phrases.append(Phrase(SHAPE_OF_WORD[word], colour, material, count))
        elif word in OBJECT_NOUNS and i > 0 and tokens[i - 1] in NUMBER_WORDS:
            totals.append(NUMBER_WORDS[tokens[i - 1]])
        elif word in EMPTY_WORDS:
            totals.append(0)
    return CaptionClaims(tuple(phrases), tuple(w for w in tokens if w in COLORS), tuple(totals))


def _matches(obj: Mapping[str, Any], phrase: Phrase) -> bool:
    return (obj["class"] == phrase.shape and phrase.colour in (None, obj.get("colour"))
            and phrase.material in (None, obj.get("material")))  # fmt: skip


def score_caption(text: str, objects: Sequence[Mapping[str, Any]]) -> dict[str, tuple[int, int]]:
    """(right, stated) per attribute of one caption against the visible ``objects`` (det records),
    plus ``coverage``: (visible objects whose colour–shape pair is mentioned, visible objects)."""
    claims = parse_caption(text)
    colours = {o.get("colour") for o in objects}
    shapes = {o["class"] for o in objects}
    named = [p for p in claims.phrases if p.colour is not None]
    counted = [p for p in claims.phrases if p.count is not None]
    mentioned = {(p.colour, p.shape) for p in named}
    return {
        "colours": (sum(c in colours for c in claims.colours), len(claims.colours)),
        "shapes": (sum(p.shape in shapes for p in claims.phrases), len(claims.phrases)),
        "objects": (sum(any(_matches(o, p) for o in objects) for p in named), len(named)),
        "counts": (sum(p.count == sum(_matches(o, p) for o in objects) for p in counted)
                   + sum(t == len(objects) for t in claims.totals), len(counted) + len(claims.totals)),
        "coverage": (sum((o.get("colour"), o["class"]) in mentioned for o in objects), len(objects)),
    }


class CaptionMetric:
    """Pooled precision of stated colours, shapes, colour–shape objects and counts, plus coverage.

    ``update(captions, objects)``: generated caption strings and the det records of each scene.
    ``attributes`` is the micro-average over colours, shapes and counts.
    """

    def __init__(self) -> None:
        self.right: dict[str, int] = {k: 0 for k in (*ATTRIBUTES, "coverage")}
        self.stated: dict[str, int] = dict(self.right)
        self.captions = 0

    def update(self, preds: Sequence[str], truths: Sequence[Sequence[Mapping[str, Any]]]) -> None:
        if len(preds) != len(truths):
            raise ValueError(f"{len(preds)} captions for {len(truths)} scenes")
        for text, objects in zip(preds, truths):
            for key, (right, stated) in score_caption(text or "", objects).items():
                self.right[key] += right
                self.stated[key] += stated
            self.captions += 1

    def compute(self) -> dict[str, float]:
        def ratio(right: int, stated: int) -> float:
            return right / stated if stated else math.nan

        out = {k: ratio(self.right[k], self.stated[k]) for k in (*ATTRIBUTES, "coverage")}
        main = ("colours", "shapes", "counts")
        out["attributes"] = ratio(sum(self.right[k] for k in main), sum(self.stated[k] for k in main))
        out["statements_per_caption"] = sum(self.stated[k] for k in main) / max(1, self.captions)
        return out
