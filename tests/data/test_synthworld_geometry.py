"""SynthWorld's ray caster is exact: depths, normals and surface points of hand-placed solids."""

import numpy as np
import pytest

from omnimask.data.synthworld import SHAPES, SynthWorldConfig, render_scene
from omnimask.data.synthworld.render import camera_rays
from omnimask.data.synthworld.scene import make_object, make_scene

RES = 33  # odd: the centre pixel's ray is the optical axis


def _render(scene, res=RES):
    rng = np.random.default_rng(0)
    return render_scene(scene, SynthWorldConfig(resolution=res, noise_std=0.0), rng, rng)


def test_sphere_in_front_of_camera_centre_depth_and_normal():
    radius, distance = 0.6, 5.0
    sphere = make_object("sphere", "red", "matte", 0.0, 0.0, 0.0, (radius,))  # centre at (0, 0.6, 0)
    scene = make_scene([sphere], eye=(0.0, radius, distance), target=(0.0, radius, 0.0))
    out = _render(scene)
    c = RES // 2
    assert out["instance"][c, c] == 1
    assert out["depth"][c, c] == pytest.approx(distance - radius, rel=1e-6)
    np.testing.assert_allclose(out["normal"][c, c], [0.0, 0.0, 1.0], atol=1e-6)


def test_sphere_every_pixel_matches_closed_form():
    radius, distance = 0.8, 4.0
    sphere = make_object("sphere", "blue", "shiny", 0.3, -0.2, 0.0, (radius,))
    scene = make_scene([sphere], eye=(1.0, 2.0, distance), target=(0.3, radius, -0.2))
    out = _render(scene)
    basis = scene.camera.basis()
    cam, dirs = camera_rays(scene.camera, RES, basis)
    # Independent closed form: |eye + t d - c| = r, nearest root.
    oc = np.asarray(scene.camera.eye) - np.asarray(sphere.center)
    b = dirs @ oc
    disc = b * b - (oc @ oc - radius**2)
    hit = disc >= 0
    t = -b - np.sqrt(np.where(hit, disc, 0))
    mine = out["instance"].ravel() == 1
    assert mine.sum() > 100
    np.testing.assert_array_equal(mine, hit & (t > 0) & (out["instance"].ravel() == 1))
    expected_depth = t * -cam[:, 2]
    np.testing.assert_allclose(out["depth"].ravel()[mine], expected_depth[mine], rtol=1e-6)
    points = np.asarray(scene.camera.eye) + t[:, None] * dirs
    expected_normal = ((points - sphere.center) / radius) @ basis
    np.testing.assert_allclose(out["normal"].reshape(-1, 3)[mine], expected_normal[mine], atol=1e-5)


def test_cube_faces_have_constant_normals_and_a_planar_front():
    half = 0.5
    cube = make_object("cube", "green", "matte", 0.0, 0.0, 0.0, (half,))  # axis-aligned
    eye_z = 4.0
    scene = make_scene([cube], eye=(0.0, half, eye_z), target=(0.0, half, 0.0))
    out = _render(scene)
    mine = out["instance"] == 1
    normals = out["normal"][mine]
    # Straight-on view of an axis-aligned cube: only the front face shows, facing the camera exactly.
    np.testing.assert_array_equal(normals, np.tile([0.0, 0.0, 1.0], (len(normals), 1)).astype(np.float32))
    np.testing.assert_allclose(out["depth"][mine], eye_z - half, rtol=1e-6)

    # From above and to the side three faces show; each pixel's normal is one of three constants.
    turned = make_object("cube", "green", "matte", 0.0, 0.0, 0.7, (half,))
    scene = make_scene([turned], eye=(2.0, 3.0, 4.0), target=(0.0, half, 0.0))
    out = _render(scene)
    normals = out["normal"][out["instance"] == 1].astype(np.float64)
    faces = np.unique(np.round(normals, 5), axis=0)
    assert len(faces) == 3
    rot = turned.rotation()
    world_axes = np.concatenate([rot.T, -rot.T]) @ scene.camera.basis()  # the six face normals, camera frame
    for face in faces:
        assert np.min(np.linalg.norm(world_axes - face, axis=1)) < 1e-5
    np.testing.assert_allclose(np.linalg.norm(normals, axis=1), 1.0, atol=1e-6)


def _inside(shape, dims, p):
    x, y, z = p[:, 0], p[:, 1], p[:, 2]
    rho = np.hypot(x, z)
    if shape == "sphere":
        return np.linalg.norm(p, axis=1) <= dims[0]
    if shape == "cube":
        return np.abs(p).max(axis=1) <= dims[0]
    if shape == "cylinder":
        return (rho <= dims[0]) & (np.abs(y) <= dims[1])
    if shape == "cone":
        r, h = dims
        return (y >= -h / 2) & (y <= h / 2) & (rho <= r / h * (h / 2 - y))
    if shape == "capsule":
        r, half = dims
        return np.hypot(np.hypot(x - np.clip(x, -half, half), y), z) <= r
    major, minor = dims
    return (rho - major) ** 2 + y**2 <= minor**2


@pytest.mark.parametrize(
    "shape, dims",
    [("sphere", (0.6,)), ("cube", (0.45,)), ("cylinder", (0.4, 0.6)), ("cone", (0.5, 1.2)),
     ("capsule", (0.3, 0.5)), ("torus", (0.5, 0.18))],
)  # fmt: skip
def test_every_surface_pixel_lies_on_the_solid_with_an_outward_normal(shape, dims):
    obj = make_object(shape, "orange", "matte", 0.1, 0.2, 0.4, dims)
    scene = make_scene([obj], eye=(1.5, 2.2, 3.5), target=(0.1, 0.5, 0.2))
    out = _render(scene)
    basis = scene.camera.basis()
    cam, dirs = camera_rays(scene.camera, RES, basis)
    mine = out["instance"].ravel() == 1
    assert mine.sum() > 40
    t = out["depth"].ravel()[mine].astype(np.float64) / -cam[mine, 2]
    points = np.asarray(scene.camera.eye) + t[:, None] * dirs[mine]
    normals = out["normal"].reshape(-1, 3)[mine].astype(np.float64) @ basis.T  # back to world
    rot = obj.rotation()
    eps = 2e-4  # float32 depth carries ~1e-6 relative error
    local_in = (points - eps * normals - obj.center) @ rot
    local_out = (points + eps * normals - obj.center) @ rot
    assert _inside(shape, obj.dims, local_in).all()
    assert not _inside(shape, obj.dims, local_out).any()
    # and the solid rests on the floor: its lowest point is at y = 0
    assert obj.center[1] == pytest.approx(
        {"cone": dims[-1] / 2, "cylinder": dims[-1], "torus": dims[-1]}.get(shape, dims[0])
    )


def test_floor_depth_and_normal_are_exact():
    scene = make_scene([], eye=(0.0, 2.0, 5.0), target=(0.0, 0.0, 0.0))
    out = _render(scene)
    basis = scene.camera.basis()
    cam, dirs = camera_rays(scene.camera, RES, basis)
    floor = out["semseg"].ravel() == 1
    assert floor.sum() > 200
    t = -2.0 / dirs[floor, 1]
    np.testing.assert_allclose(out["depth"].ravel()[floor], t * -cam[floor, 2], rtol=1e-6)
    up = np.array([0.0, 1.0, 0.0]) @ basis
    np.testing.assert_allclose(out["normal"].reshape(-1, 3)[floor], np.tile(up, (floor.sum(), 1)), atol=1e-6)
    sky = out["semseg"].ravel() == 0
    assert (out["depth"].ravel()[sky] == 0).all() and (out["normal"].reshape(-1, 3)[sky] == 0).all()


def test_shapes_table_has_at_least_five_classes():
    assert len(SHAPES) >= 5 and len(set(SHAPES)) == len(SHAPES)


def test_torus_hits_solve_its_quartic():
    from omnimask.data.synthworld.raycast import intersect_objects, torus_sdf

    torus = make_object("torus", "pink", "shiny", 0.0, 0.0, 0.3, (0.5, 0.18))
    scene = make_scene([torus], eye=(1.5, 1.2, 3.5), target=(0.0, 0.2, 0.0))
    _, dirs = camera_rays(scene.camera, 64, scene.camera.basis())
    eye = np.asarray(scene.camera.eye)
    t = intersect_objects([torus], eye, dirs)[0]
    hit = np.isfinite(t)
    local = (eye + t[hit, None] * dirs[hit] - torus.center) @ torus.rotation()
    assert hit.sum() > 150 and np.abs(torus_sdf(local, 0.5, 0.18)).max() < 1e-7
    # the hole: the ray through the centre from straight above passes through
    above = np.array([[0.0, 3.0, 0.0], [0.5, 3.0, 0.0]]) + torus.center  # over the hole, over the tube
    t_down = intersect_objects([torus], above, np.array([0.0, -1.0, 0.0]))[0]
    assert np.isinf(t_down[0]) and t_down[1] == pytest.approx(3.0 - 0.18, abs=1e-7)
