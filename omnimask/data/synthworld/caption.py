"""Natural-language captions of SynthWorld scenes, built from the scene graph of the *visible* objects.

The caption plays the part of 4M's pseudo-labelled captions: a first sentence lists what is there
(counts, colours, optionally materials, shapes; which template and wording is chosen at random from
several paraphrases), then up to two sentences state spatial relations (left of, right of, in front
of, behind) between objects that can be named unambiguously. Only objects in ``det`` — those with
enough visible pixels — are ever mentioned, so an object hidden behind another never appears.

Relations are read from the image the way a viewer would: left/right from the horizontal centres of
the visible boxes (at least ``0.12`` of the image width apart), in front/behind from the camera-frame
depth of the object centres (at least ``0.75`` m apart).
"""

from __future__ import annotations

import numpy as np

from omnimask.data.synthworld.config import SHAPE_PLURALS
from omnimask.data.synthworld.scene import Scene

_NUMBERS = ("no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
_FLOORS = ("checkered floor", "tiled floor", "chequered ground")
_INTROS = (
    "There {be} {count} object{s} on the {floor}: {list}.",
    "A {floor}{wall} with {list}.",
    "{List} {rest} on a {floor}{wall}.",
    "This scene shows {list}{wall}.",
    "{Count} object{s}: {list}.",
    "We see {list} on a {floor}.",
)
_EMPTY = ("An empty {floor}{wall} under the sky.", "Nothing stands on the {floor}{wall}.", "A bare {floor}{wall}.")
_WALLS = (" in front of a wall", " before a grey wall", " near a wall")
_RELATIONS = {
    "left of": (
        "The {a} is to the left of the {b}.",
        "The {a} is left of the {b}.",
        "To the left of the {b} is the {a}.",
    ),
    "right of": (
        "The {a} is to the right of the {b}.",
        "The {a} is right of the {b}.",
        "To the right of the {b} is the {a}.",
    ),
    "in front of": ("The {a} is in front of the {b}.", "The {a} is closer to the camera than the {b}."),
    "behind": ("The {a} is behind the {b}.", "Behind the {b} stands the {a}."),
}
_MIN_DX, _MIN_DZ = 0.12, 0.75


def _pick(rng: np.random.Generator, options: tuple[str, ...]) -> str:
    return options[int(rng.integers(len(options)))]


def _noun_phrase(count: int, material: str | None, colour: str, shape: str) -> str:
    words = [w for w in (material, colour) if w]
    noun = shape if count == 1 else SHAPE_PLURALS[shape]
    lead = ("an" if (words[0] if words else shape)[0] in "aeiou" else "a") if count == 1 else _NUMBERS[count]
    return " ".join([lead, *words, noun])


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _references(det: list[dict]) -> list[str | None]:
    """The shortest unambiguous name of each detected object ("red cube", "shiny red cube") or None."""
    names: list[str | None] = []
    for d in det:
        short = [e for e in det if (e["colour"], e["class"]) == (d["colour"], d["class"])]
        full = [e for e in short if e["material"] == d["material"]]
        if len(short) == 1:
            names.append(f"{d['colour']} {d['class']}")
        elif len(full) == 1:
            names.append(f"{d['material']} {d['colour']} {d['class']}")
        else:
            names.append(None)
    return names


def relations(scene: Scene, det: list[dict]) -> list[tuple[int, str, int]]:
    """All clear (i, relation, j) triples between detected objects i and j (indices into ``det``)."""
    basis, eye = scene.camera.basis(), np.asarray(scene.camera.eye)
    depth = [float(-((np.asarray(scene.objects[d["instance"] - 1].center) - eye) @ basis)[2]) for d in det]
    centre_x = [(d["box"][0] + d["box"][2]) / 2 for d in det]
    out = []
    for i in range(len(det)):
        for j in range(len(det)):
            if i == j:
                continue
            if centre_x[j] - centre_x[i] > _MIN_DX:
                out.append((i, "left of", j))
            if centre_x[i] - centre_x[j] > _MIN_DX:
                out.append((i, "right of", j))
            if depth[j] - depth[i] > _MIN_DZ:
                out.append((i, "in front of", j))
            if depth[i] - depth[j] > _MIN_DZ:
                out.append((i, "behind", j))
    return out


def caption(scene: Scene, det: list[dict], wall_visible: bool, rng: np.random.Generator) -> str:
    """One caption of the scene mentioning exactly the objects in ``det`` (see module docstring)."""
    floor = _pick(rng, _FLOORS)
    wall = _pick(rng, _WALLS) if wall_visible else ""
    if not det:
        return _pick(rng, _EMPTY).format(floor=floor, wall=wall)

    with_material = bool(rng.uniform() < 0.5)
    order = sorted(range(len(det)), key=lambda i: det[i]["box"][0])  # list objects left to right
    groups: dict[tuple[str | None, str, str], int] = {}
    for i in order:
        key = (det[i]["material"] if with_material else None, det[i]["colour"], det[i]["class"])
        groups[key] = groups.get(key, 0) + 1
    listed = _join([_noun_phrase(n, *key) for key, n in groups.items()])
    n = len(det)
    intro = _pick(rng, _INTROS).format(
        be="is" if n == 1 else "are",
        count=_NUMBERS[n],
        Count=_NUMBERS[n].capitalize(),
        s="" if n == 1 else "s",
        floor=floor,
        wall=wall,
        list=listed,
        List=listed[0].upper() + listed[1:],
        rest="rests" if n == 1 else "rest",
    )

    names = _references(det)
    usable = [r for r in relations(scene, det) if names[r[0]] and names[r[2]]]
    sentences = [intro]
    for _ in range(min(len(usable), int(rng.integers(0, 3)))):
        if not usable:
            break
        i, rel, j = usable[int(rng.integers(len(usable)))]
        sentences.append(_pick(rng, _RELATIONS[rel]).format(a=names[i], b=names[j]))
        usable = [r for r in usable if {r[0], r[2]} != {i, j}]  # one statement per pair
    return " ".join(sentences)
