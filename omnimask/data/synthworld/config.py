"""What SynthWorld contains: the configuration dataclass and the fixed class, colour and material tables.

SynthWorld is omnimask's embedded stand-in for 4M's pseudo-labelled training data: every modality
is computed exactly from a procedural scene instead of by a labelling network. The tables below are
part of the dataset's definition — their order fixes the semantic class ids written into ``semseg``
maps and the manifest — so they only ever grow at the end (bump :data:`GENERATOR_VERSION` when any
rendering rule changes).
"""

from __future__ import annotations

import dataclasses

from omnimask.config import ConfigError

#: Bumped whenever a change alters the pixels or labels produced for a given (seed, index, config).
GENERATOR_VERSION = "synthworld-1"

#: Shape classes, in semantic-id order after the three "stuff" classes.
SHAPES: tuple[str, ...] = ("sphere", "cube", "cylinder", "cone", "capsule", "torus")
#: English plurals used by the captioner.
SHAPE_PLURALS: dict[str, str] = {
    "sphere": "spheres",
    "cube": "cubes",
    "cylinder": "cylinders",
    "cone": "cones",
    "capsule": "capsules",
    "torus": "tori",
}

#: Semantic classes: id = position. 0 sky (no surface; depth 0), 1 floor, 2 wall, then one per shape.
SEMANTIC_CLASSES: tuple[str, ...] = ("sky", "floor", "wall", *SHAPES)
SKY, FLOOR, WALL = 0, 1, 2
#: Semantic id of the first shape class (``SHAPE_IDS[shape] = FIRST_SHAPE_ID + SHAPES.index(shape)``).
FIRST_SHAPE_ID = 3
SHAPE_IDS: dict[str, int] = {s: FIRST_SHAPE_ID + i for i, s in enumerate(SHAPES)}

#: Named object colours and their sRGB albedo (0–255).
COLORS: dict[str, tuple[int, int, int]] = {
    "red": (205, 38, 38),
    "orange": (240, 128, 24),
    "yellow": (236, 205, 40),
    "green": (48, 165, 60),
    "cyan": (40, 190, 200),
    "blue": (38, 72, 210),
    "purple": (125, 50, 175),
    "pink": (240, 118, 175),
    "brown": (125, 78, 40),
    "gray": (135, 135, 135),
}
#: Surface materials: ``matte`` is Lambertian, ``shiny`` adds a Blinn–Phong highlight and a sky reflection.
MATERIALS: tuple[str, ...] = ("matte", "shiny")


@dataclasses.dataclass(kw_only=True)
class SynthWorldConfig:
    """How scenes are sampled and rendered (the seed is passed separately, per call).

    Attributes:
        resolution: square image side in pixels (64 default; 128 and 224 work).
        min_objects: fewest objects placed in a scene (some may end up out of view).
        max_objects: most objects placed in a scene (at most 6 keeps instance ids < 8).
        wall_prob: probability of a back wall behind the objects.
        noise_std: standard deviation of the Gaussian pixel noise added to RGB, in 0–255 units.
        lighting_jitter: randomise light colour, ambient level and exposure a little per scene.
        visible_min_area: an object counts as visible (gets a box, enters the caption and the
            metadata counts) when at least ``max(3, visible_min_area * H * W)`` of its pixels show.
        edge_threshold: relative depth jump ``|Δz| / min(z)`` between neighbouring pixels of
            different surfaces that marks an occlusion edge.
        floor_radius: the floor is a disc of this radius (metres); beyond it the ray sees sky, which
            keeps depth within 16-bit millimetres.
    """

    resolution: int = 64
    min_objects: int = 1
    max_objects: int = 6
    wall_prob: float = 0.6
    noise_std: float = 2.0
    lighting_jitter: bool = True
    visible_min_area: float = 0.001
    edge_threshold: float = 0.03
    floor_radius: float = 40.0

    def __post_init__(self) -> None:
        if not 16 <= self.resolution <= 1024:
            raise ConfigError(f"resolution={self.resolution}: use a side between 16 and 1024 pixels (64 default)")
        if not 0 <= self.min_objects <= self.max_objects <= 6:
            raise ConfigError(
                f"objects: need 0 <= min_objects <= max_objects <= 6, got {self.min_objects}..{self.max_objects}"
            )
        if not 0.0 <= self.wall_prob <= 1.0:
            raise ConfigError(f"wall_prob={self.wall_prob} must be a probability in [0, 1]")
        if self.noise_std < 0:
            raise ConfigError(f"noise_std={self.noise_std} must be >= 0 (0 disables pixel noise)")

    def min_visible_pixels(self) -> int:
        """Pixel count from which an object is visible at this resolution."""
        return max(3, round(self.visible_min_area * self.resolution * self.resolution))


@dataclasses.dataclass(kw_only=True)
class SynthRunConfig:
    """One ``omnimask synth`` run: what to write where (saved as ``config.json`` beside the data).

    Attributes:
        out: output directory ("" when only a preview is drawn).
        num: number of scenes (keys ``000000`` .. ``num-1``).
        seed: world seed; scene ``i`` depends only on (seed, i, world).
        workers: worker processes rendering in parallel.
        split_fractions: train / val / test shares; membership is a hash of (seed, index).
        world: how scenes are sampled and rendered.
    """

    out: str = ""
    num: int = 1000
    seed: int = 0
    workers: int = 1
    split_fractions: tuple[float, float, float] = (0.9, 0.05, 0.05)
    world: SynthWorldConfig = dataclasses.field(default_factory=SynthWorldConfig)
