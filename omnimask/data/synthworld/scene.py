"""SynthWorld scene graphs and their sampler: objects on a floor, an optional wall, a camera and a light.

A scene is plain data (frozen dataclasses of floats and strings) so that it can be written as JSON
beside the rendered maps and rebuilt exactly. World frame: metres, ``y`` up, the floor is the plane
``y = 0``. Every object rests on the floor, turned about the vertical axis by ``yaw``; because the
objects' floor footprints are discs that never overlap (and the wall stands behind all of them), no
two solids interpenetrate.

Object dimensions (``dims``), in the object's local frame centred at ``center``:

* sphere ``(radius,)``; cube ``(half_side,)``;
* cylinder ``(radius, half_height)`` with a vertical axis;
* cone ``(base_radius, height)``: apex at ``y = +height/2``, base disc at ``y = -height/2``;
* capsule ``(radius, half_length)``: lying down, its segment runs along local ``x``;
* torus ``(major_radius, minor_radius)``: lying flat, its axis is local ``y``.

:func:`sample_scene` draws everything from ``numpy.random.default_rng([seed, index])``, so a
(seed, index, config) triple always gives the same scene in any process.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np

from omnimask.data.synthworld.config import COLORS, MATERIALS, SHAPES, SynthWorldConfig

Vec3 = tuple[float, float, float]


@dataclasses.dataclass(frozen=True, kw_only=True)
class Object:
    """One solid resting on the floor (see the module docstring for ``dims``)."""

    shape: str
    color: str
    material: str
    center: Vec3
    yaw: float
    dims: tuple[float, ...]

    def rotation(self) -> np.ndarray:
        """(3, 3) world-from-local rotation (a turn by ``yaw`` about the vertical axis)."""
        c, s = math.cos(self.yaw), math.sin(self.yaw)
        return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])

    def bounding_radius(self) -> float:
        """Radius of a sphere about ``center`` that contains the solid."""
        d = self.dims
        if self.shape == "cube":
            return d[0] * math.sqrt(3.0)
        if self.shape == "cylinder":
            return math.hypot(d[0], d[1])
        if self.shape == "cone":
            return max(math.hypot(d[0], d[1] / 2), d[1] / 2)
        if self.shape in ("capsule", "torus"):
            return d[0] + d[1]
        return d[0]  # sphere

    def footprint_radius(self) -> float:
        """Radius of a vertical cylinder about ``center`` that contains the solid (floor footprint)."""
        d = self.dims
        if self.shape == "cube":
            return d[0] * math.sqrt(2.0)
        if self.shape in ("capsule", "torus"):
            return d[0] + d[1]
        return d[0]  # sphere, cylinder, cone


@dataclasses.dataclass(frozen=True, kw_only=True)
class Camera:
    """A pinhole camera looking from ``eye`` at ``target`` (world ``y`` stays up in the image)."""

    eye: Vec3
    target: Vec3
    fov_deg: float
    elevation_deg: float
    azimuth_deg: float
    distance: float

    def basis(self) -> np.ndarray:
        """(3, 3) camera-to-world rotation; columns are the camera's x (right), y (up), z (backward).

        The camera looks along its -z axis (OpenGL convention), so camera-frame normals of surfaces
        facing the viewer have a positive z.
        """
        eye, target = np.asarray(self.eye), np.asarray(self.target)
        forward = (target - eye) / np.linalg.norm(target - eye)
        right = np.array([-forward[2], 0.0, forward[0]])  # forward × world up
        right /= np.linalg.norm(right)
        up = np.array(
            [
                right[1] * forward[2] - right[2] * forward[1],
                right[2] * forward[0] - right[0] * forward[2],
                right[0] * forward[1] - right[1] * forward[0],
            ]
        )  # right × forward
        return np.stack([right, up, -forward], axis=1)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Light:
    """A directional light (``direction`` points from the scene toward the light) plus ambient light."""

    direction: Vec3
    color: Vec3
    intensity: float
    ambient: float


@dataclasses.dataclass(frozen=True, kw_only=True)
class Wall:
    """A vertical wall: the plane ``dot(normal, p) = -offset`` facing the camera, up to ``height``."""

    normal: Vec3
    offset: float
    height: float
    color: Vec3


@dataclasses.dataclass(frozen=True, kw_only=True)
class Scene:
    """Everything needed to render one SynthWorld image; colours are linear RGB in [0, 1]."""

    objects: tuple[Object, ...]
    camera: Camera
    light: Light
    wall: Wall | None
    floor_colors: tuple[Vec3, Vec3]
    checker_size: float
    sky_horizon: Vec3
    sky_zenith: Vec3
    exposure: float


#: Muted sRGB floor tones (beige, sand, stone, sage, slate, clay); the checks are lighter/darker variants.
_FLOOR_TONES = (
    (0.72, 0.66, 0.56),
    (0.78, 0.72, 0.58),
    (0.62, 0.62, 0.6),
    (0.6, 0.66, 0.55),
    (0.55, 0.6, 0.66),
    (0.72, 0.58, 0.5),
)


def srgb_to_linear(rgb: np.ndarray) -> np.ndarray:
    """sRGB values in [0, 1] to linear light (the standard piecewise curve); any shape."""
    rgb = np.asarray(rgb, dtype=np.float64)
    return np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)


def _vec(values: np.ndarray) -> Vec3:
    return (float(values[0]), float(values[1]), float(values[2]))


def _sample_dims(shape: str, rng: np.random.Generator) -> tuple[float, ...]:
    u = rng.uniform
    if shape == "sphere":
        return (u(0.32, 0.7),)
    if shape == "cube":
        return (u(0.28, 0.55),)
    if shape == "cylinder":
        return (u(0.25, 0.5), u(0.3, 0.7))
    if shape == "cone":
        return (u(0.3, 0.6), u(0.7, 1.4))
    if shape == "capsule":
        return (u(0.2, 0.34), u(0.3, 0.6))
    return (u(0.38, 0.6), u(0.12, 0.22))  # torus


def _rest_height(shape: str, dims: tuple[float, ...]) -> float:
    """Height of ``center`` above the floor when the solid rests on it."""
    if shape in ("cylinder", "torus"):
        return dims[1]
    if shape == "cone":
        return dims[1] / 2
    return dims[0]  # sphere, cube, lying capsule


def make_object(
    shape: str, color: str, material: str, x: float, z: float, yaw: float, dims: tuple[float, ...]
) -> Object:
    """An object of ``shape`` resting on the floor at horizontal position (x, z)."""
    if shape not in SHAPES:
        raise ValueError(f"unknown shape {shape!r}; SynthWorld knows {list(SHAPES)}")
    if color not in COLORS:
        raise ValueError(f"unknown colour {color!r}; SynthWorld knows {list(COLORS)}")
    if material not in MATERIALS:
        raise ValueError(f"unknown material {material!r}; SynthWorld knows {list(MATERIALS)}")
    return Object(
        shape=shape,
        color=color,
        material=material,
        center=(x, _rest_height(shape, dims), z),
        yaw=yaw,
        dims=tuple(float(d) for d in dims),
    )


def _place_objects(rng: np.random.Generator, count: int, area_radius: float = 2.2) -> list[Object]:
    """Rejection-sample non-overlapping footprints; an object that finds no room is dropped."""
    placed: list[Object] = []
    color_names = list(COLORS)
    for _ in range(count):
        shape = SHAPES[rng.integers(len(SHAPES))]
        dims = _sample_dims(shape, rng)
        color = color_names[rng.integers(len(color_names))]
        material = MATERIALS[rng.integers(len(MATERIALS))]
        yaw = float(rng.uniform(0.0, 2 * math.pi))
        candidate = make_object(shape, color, material, 0.0, 0.0, yaw, dims)
        radius = candidate.footprint_radius()
        for _attempt in range(30):
            r, phi = area_radius * math.sqrt(rng.uniform()), rng.uniform(0.0, 2 * math.pi)
            x, z = r * math.cos(phi), r * math.sin(phi)
            clear = all(
                math.hypot(x - o.center[0], z - o.center[2]) > radius + o.footprint_radius() + 0.05 for o in placed
            )
            if clear:
                placed.append(make_object(shape, color, material, x, z, yaw, dims))
                break
    return placed


def _unit(elevation: float, azimuth: float) -> np.ndarray:
    """Unit vector at ``elevation`` above the floor, ``azimuth`` about the vertical (radians)."""
    return np.array(
        [math.cos(elevation) * math.sin(azimuth), math.sin(elevation), math.cos(elevation) * math.cos(azimuth)]
    )


def sample_scene(seed: int, index: int, cfg: SynthWorldConfig) -> Scene:
    """The scene number ``index`` of the world ``seed`` (pure function of its arguments)."""
    rng = np.random.default_rng([seed, index])
    objects = _place_objects(rng, int(rng.integers(cfg.min_objects, cfg.max_objects + 1)))

    centroid = np.mean([[o.center[0], o.center[2]] for o in objects], axis=0) if objects else np.zeros(2)
    target = np.array([centroid[0] * 0.6, rng.uniform(0.3, 0.7), centroid[1] * 0.6])
    target[[0, 2]] += rng.uniform(-0.3, 0.3, size=2)
    elevation, azimuth = math.radians(rng.uniform(14.0, 48.0)), rng.uniform(0.0, 2 * math.pi)
    distance = float(rng.uniform(5.0, 8.0))
    eye = target + distance * _unit(elevation, azimuth)
    camera = Camera(
        eye=_vec(eye),
        target=_vec(target),
        fov_deg=float(rng.uniform(40.0, 55.0)),
        elevation_deg=math.degrees(elevation),
        azimuth_deg=math.degrees(azimuth),
        distance=distance,
    )

    wall = None
    wall_yaw = azimuth + math.radians(rng.uniform(-15.0, 15.0))
    if rng.uniform() < cfg.wall_prob:
        normal = _unit(0.0, wall_yaw)
        # Behind every object: the farthest footprint along -normal, plus a gap.
        behind = max(
            (-(o.center[0] * normal[0] + o.center[2] * normal[2]) + o.footprint_radius() for o in objects), default=0.0
        )
        wall_rgb = srgb_to_linear(np.array([rng.uniform(0.55, 0.85)] * 3) * rng.uniform(0.92, 1.0, size=3))
        wall = Wall(
            normal=_vec(normal),
            offset=float(max(behind, 2.0) + rng.uniform(0.4, 2.0)),
            height=float(rng.uniform(2.2, 4.0)),
            color=_vec(wall_rgb),
        )

    # The light stays on the camera's side of the wall so that the wall never shadows the floor.
    light_dir = _unit(math.radians(rng.uniform(30.0, 70.0)), wall_yaw + math.radians(rng.uniform(-70.0, 70.0)))
    jitter = cfg.lighting_jitter
    tint = np.array([1.0, 1.0, 1.0]) + (rng.uniform(-0.08, 0.08, size=3) if jitter else 0.0)
    light = Light(
        direction=_vec(light_dir),
        color=_vec(tint / tint.max()),
        intensity=float(rng.uniform(0.85, 1.15) if jitter else 1.0),
        ambient=float(rng.uniform(0.12, 0.22) if jitter else 0.17),
    )

    base = np.asarray(_FLOOR_TONES[rng.integers(len(_FLOOR_TONES))]) * rng.uniform(0.9, 1.1)
    contrast = rng.uniform(0.06, 0.16)
    floor_colors = (_vec(srgb_to_linear(base * (1 + contrast))), _vec(srgb_to_linear(base * (1 - contrast))))
    horizon = srgb_to_linear(np.array([rng.uniform(0.75, 0.9), rng.uniform(0.82, 0.92), 0.95]))
    zenith = srgb_to_linear(np.array([rng.uniform(0.25, 0.45), rng.uniform(0.45, 0.6), rng.uniform(0.8, 0.95)]))
    return Scene(
        objects=tuple(objects),
        camera=camera,
        light=light,
        wall=wall,
        floor_colors=floor_colors,
        checker_size=float(rng.uniform(0.45, 1.0)),
        sky_horizon=_vec(horizon),
        sky_zenith=_vec(zenith),
        exposure=float(rng.uniform(0.9, 1.1) if jitter else 1.0),
    )


def make_scene(
    objects: Sequence[Object],
    *,
    eye: Vec3,
    target: Vec3,
    fov_deg: float = 45.0,
    wall: Wall | None = None,
    light_direction: Vec3 = (0.4, 0.8, 0.45),
) -> Scene:
    """A hand-placed scene with neutral defaults (white light, grey floor, fixed sky, exposure 1).

    Useful for tests and illustrations: place objects with :func:`make_object` and look at them from
    ``eye``. The light direction points toward the light and is normalised here.
    """
    offset = np.asarray(eye, dtype=np.float64) - np.asarray(target, dtype=np.float64)
    distance = float(np.linalg.norm(offset))
    light = np.asarray(light_direction, dtype=np.float64)
    camera = Camera(
        eye=_vec(np.asarray(eye, dtype=np.float64)),
        target=_vec(np.asarray(target, dtype=np.float64)),
        fov_deg=fov_deg,
        elevation_deg=math.degrees(math.asin(offset[1] / distance)),
        azimuth_deg=math.degrees(math.atan2(offset[0], offset[2])),
        distance=distance,
    )
    grey = srgb_to_linear(np.array([0.7, 0.7, 0.7]))
    return Scene(
        objects=tuple(objects),
        camera=camera,
        light=Light(direction=_vec(light / np.linalg.norm(light)), color=(1.0, 1.0, 1.0), intensity=1.0, ambient=0.2),
        wall=wall,
        floor_colors=(_vec(grey), _vec(grey * 0.8)),
        checker_size=0.5,
        sky_horizon=_vec(srgb_to_linear(np.array([0.85, 0.9, 0.95]))),
        sky_zenith=_vec(srgb_to_linear(np.array([0.35, 0.5, 0.9]))),
        exposure=1.0,
    )
