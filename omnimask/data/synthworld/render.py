"""Render a SynthWorld scene into exact, pixel-aligned maps: RGB, z-depth, camera normals, ids.

One primary ray per pixel centre (no anti-aliasing, so every map is exact at every pixel); the
nearest of floor, wall and objects wins. Shading is done in linear light: a hemispherical ambient
term, a directional light with cast shadows (one shadow ray per surface pixel, tested against every
object and the wall), a Blinn–Phong highlight and a faint sky reflection for ``shiny`` objects, a
checkered floor whose contrast fades where a pixel covers several checks, distance fog toward the
horizon colour, exposure, sRGB encoding and Gaussian pixel noise.

Conventions of the returned maps (H = W = resolution):

* ``depth``: float32 z-depth in metres along the camera's viewing axis; 0 where the ray sees sky
  (invalid; ``valid = depth > 0``).
* ``normal``: float32 unit vectors in the camera frame (x right, y up, z toward the camera), facing
  the camera; 0 on sky.
* ``semseg``: uint8 ids of :data:`~omnimask.data.synthworld.config.SEMANTIC_CLASSES`.
* ``instance``: uint8, 0 for sky/floor/wall, ``k + 1`` for ``scene.objects[k]``.
"""

from __future__ import annotations

import math

import numpy as np

from omnimask.data.synthworld.config import COLORS, FLOOR, SHAPE_IDS, WALL, SynthWorldConfig
from omnimask.data.synthworld.raycast import (
    dot3,
    intersect_floor,
    intersect_objects,
    intersect_wall,
    normalize3,
    object_normals,
    occluded,
)
from omnimask.data.synthworld.scene import Camera, Scene, srgb_to_linear

_SHADOW_BIAS = 1e-4  # metres along the normal before a shadow ray starts


def camera_rays(camera: Camera, resolution: int, basis: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unit ray directions through the pixel centres, row-major: camera frame (N, 3) and world (N, 3).

    ``basis`` is ``camera.basis()`` (passed in so that it is computed once per image).
    """
    half = math.tan(math.radians(camera.fov_deg) / 2)
    centres = (np.arange(resolution) + 0.5) / resolution * 2 - 1
    y, x = np.meshgrid(-centres * half, centres * half, indexing="ij")  # row 0 is the top of the image
    cam = np.stack([x.ravel(), y.ravel(), -np.ones(x.size)], axis=1)
    cam = normalize3(cam)
    return cam, cam @ basis.T


def _floor_albedo(scene: Scene, points: np.ndarray, dirs: np.ndarray, t: np.ndarray, pixel: float):
    size = scene.checker_size
    parity = (np.floor(points[:, 0] / size) + np.floor(points[:, 2] / size)).astype(np.int64) & 1
    light, dark = np.asarray(scene.floor_colors[0]), np.asarray(scene.floor_colors[1])
    albedo = np.where(parity[:, None] > 0, dark, light)
    # Where one pixel spans several checks, show their average instead of aliasing.
    footprint = t * pixel / np.maximum(np.abs(dirs[:, 1]), 1e-3) / size
    keep = np.clip(1.5 - 2.0 * footprint, 0.0, 1.0)[:, None]
    return (light + dark) / 2 + keep * (albedo - (light + dark) / 2)


def _sky(scene: Scene, dirs: np.ndarray) -> np.ndarray:
    up = np.clip(dirs[:, 1], 0.0, 1.0)[:, None] ** 0.6
    return (1 - up) * np.asarray(scene.sky_horizon) + up * np.asarray(scene.sky_zenith)


def _shadowed(scene: Scene, points: np.ndarray, normals: np.ndarray) -> np.ndarray:
    """True (M,) where the path from a surface point toward the light is blocked."""
    light = np.asarray(scene.light.direction)
    origins = points + _SHADOW_BIAS * normals
    blocked = np.isfinite(intersect_wall(scene.wall, origins, np.broadcast_to(light, points.shape), two_sided=True))
    return blocked | occluded(scene.objects, origins, light)


def _shade(
    scene: Scene,
    cfg: SynthWorldConfig,
    surface: np.ndarray,
    points: np.ndarray,
    normals: np.ndarray,
    dirs: np.ndarray,
    t: np.ndarray,
) -> np.ndarray:
    """Linear RGB (M, 3) of hit pixels; ``surface`` is 0 floor, 1 wall, k + 2 object k."""
    light = scene.light
    pixel = 2 * math.tan(math.radians(scene.camera.fov_deg) / 2) / cfg.resolution
    albedo = np.zeros_like(points)
    shiny = np.zeros(len(points), dtype=bool)
    is_floor = surface == 0
    albedo[is_floor] = _floor_albedo(scene, points[is_floor], dirs[is_floor], t[is_floor], pixel)
    if scene.wall is not None:
        is_wall = surface == 1
        fade = 0.85 + 0.15 * np.clip(points[is_wall, 1] / scene.wall.height, 0, 1)  # darker near the floor
        albedo[is_wall] = np.asarray(scene.wall.color) * fade[:, None]
    for k, obj in enumerate(scene.objects):
        mine = surface == k + 2
        albedo[mine] = srgb_to_linear(np.asarray(COLORS[obj.color]) / 255.0)
        shiny[mine] = obj.material == "shiny"

    to_light = np.asarray(light.direction)
    facing = normals @ to_light
    lit = facing > 0  # surfaces turned away from the light need no shadow ray
    towards = np.flatnonzero(lit)
    lit[towards] = ~_shadowed(scene, points[towards], normals[towards])
    lambert = np.clip(facing, 0.0, None) * lit
    ambient = light.ambient * (0.55 + 0.45 * normals[:, 1])  # more light from the sky than the floor
    color = albedo * (ambient[:, None] + light.intensity * lambert[:, None] * np.asarray(light.color))

    if shiny.any():
        n, v = normals[shiny], -dirs[shiny]
        half = normalize3(v + to_light)
        spec = np.clip(dot3(n, half), 0, None) ** 60 * lit[shiny] * light.intensity
        cos_v = np.clip(dot3(n, v), 0, 1)
        fresnel = 0.04 + 0.96 * (1 - cos_v) ** 5
        mirror = -v + 2 * dot3(n, v)[:, None] * n
        color[shiny] = (
            color[shiny] * (1 - 0.3 * fresnel[:, None])
            + 0.3 * fresnel[:, None] * _sky(scene, mirror)
            + 0.8 * spec[:, None] * np.asarray(light.color)
        )

    fog = np.clip((t - 14.0) / 26.0, 0.0, 1.0)[:, None] ** 2
    return (1 - fog) * color + fog * np.asarray(scene.sky_horizon)


def _encode_srgb(linear: np.ndarray) -> np.ndarray:
    linear = np.clip(linear, 0.0, 1.0)
    return np.where(linear <= 0.0031308, 12.92 * linear, 1.055 * linear ** (1 / 2.4) - 0.055)


def render_maps(scene: Scene, cfg: SynthWorldConfig, noise_rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Render ``scene``; returns the maps described in the module docstring plus ``silhouette``.

    ``silhouette`` (len(objects),) counts, per object, the in-frame pixels it would cover with
    every other object removed (its unoccluded footprint; the denominator of the visible fraction).
    """
    res = cfg.resolution
    basis = scene.camera.basis()
    cam_dirs, dirs = camera_rays(scene.camera, res, basis)
    n_rays = len(dirs)
    eye = np.asarray(scene.camera.eye)
    origins = np.broadcast_to(eye, dirs.shape)

    t_floor = intersect_floor(origins, dirs, cfg.floor_radius)
    t_wall = intersect_wall(scene.wall, origins, dirs)
    t_objects = intersect_objects(scene.objects, eye, dirs)  # (objects, N)
    stack = np.concatenate([t_floor[None], t_wall[None], t_objects])  # (2 + objects, N)
    surface = np.argmin(stack, axis=0)
    t = stack[surface, np.arange(n_rays)]
    hit = np.isfinite(t)
    stuff = np.minimum(t_floor, t_wall)
    silhouette = np.count_nonzero(t_objects < stuff, axis=1).astype(np.int64)

    idx = np.flatnonzero(hit)
    surf, th, dh = surface[idx], t[idx], dirs[idx]
    points = origins[idx] + th[:, None] * dh
    normals = np.zeros_like(points)
    normals[surf == 0] = (0.0, 1.0, 0.0)
    if scene.wall is not None:
        normals[surf == 1] = scene.wall.normal
    for k, obj in enumerate(scene.objects):
        mine = surf == k + 2
        normals[mine] = object_normals(obj, points[mine])
    # Visible surfaces face the viewer; flipping guards the thin numerical cases (e.g. a torus rim).
    normals *= np.where(dot3(normals, dh) > 0, -1.0, 1.0)[:, None]

    linear = np.empty((n_rays, 3))
    sky = np.flatnonzero(~hit)
    linear[sky] = _sky(scene, dirs[sky])
    linear[idx] = _shade(scene, cfg, surf, points, normals, dh, th)
    srgb = _encode_srgb(linear * scene.exposure) * 255.0
    if cfg.noise_std > 0:
        srgb = srgb + cfg.noise_std * noise_rng.standard_normal(size=srgb.shape, dtype=np.float32)
    rgb = np.clip(np.rint(srgb), 0, 255).astype(np.uint8)

    depth = np.zeros(n_rays, dtype=np.float64)
    depth[idx] = th * -cam_dirs[idx, 2]
    normal_cam = np.zeros((n_rays, 3))
    normal_cam[idx] = normals @ basis
    class_of_surface = np.array([FLOOR, WALL, *(SHAPE_IDS[o.shape] for o in scene.objects)], dtype=np.uint8)
    semseg = np.zeros(n_rays, dtype=np.uint8)
    semseg[idx] = class_of_surface[surf]
    instance = np.zeros(n_rays, dtype=np.uint8)
    instance[idx] = np.maximum(surf - 1, 0).astype(np.uint8)
    return {
        "rgb": rgb.reshape(res, res, 3),
        "depth": depth.reshape(res, res).astype(np.float32),
        "normal": normal_cam.reshape(res, res, 3).astype(np.float32),
        "semseg": semseg.reshape(res, res),
        "instance": instance.reshape(res, res),
        "silhouette": silhouette,
    }
