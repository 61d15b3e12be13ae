"""Human poses <-> 4M-21's 39-word ``human ...`` text."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from omnimask.tokenizers.text import HumanPose, parse_poses, serialize_poses

PERSON = HumanPose(
    box=(0.1, 0.2, 0.5, 0.9),
    pose_tokens=(0, 511, 512, 1023, 7, 600, 3, 100),
    global_orient=(1.0, 0.0, 0.0, 0.0, -1.0, 0.0, 0.0, 0.0, 0.5),
    betas=(0.0, 3.0, -3.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 5.0),  # 5.0 is clipped to 3
    camera=(-1.0, 0.0, 19.0),
)
PERSON_TEXT = (
    "human v0=100 v1=200 v2=500 v3=899 "
    "pose v0=0 v0=511 v1=0 v1=511 v0=7 v1=88 v0=3 v0=100 "
    "global v0=999 v0=500 v0=500 v0=500 v0=0 v0=500 v0=500 v0=500 v0=749 "
    "camera v0=0 v0=50 v0=999 "
    "shape v0=500 v0=999 v0=0 v0=666 v0=500 v0=500 v0=500 v0=500 v0=500 v0=999"
)


def test_format():
    # 0.5·999 = 499.5 and 499.5·0 + 499.5 round to 500 (half to even); 49.95 -> 50; 166.5 + 499.5 = 666
    assert serialize_poses([PERSON]) == PERSON_TEXT
    assert len(PERSON_TEXT.split()) == 39
    assert serialize_poses([]) == "none"
    two = serialize_poses([PERSON, PERSON])
    assert two == PERSON_TEXT + " " + PERSON_TEXT


def test_group_order_shuffle_is_seeded():
    a = serialize_poses([PERSON] * 3, rng=np.random.default_rng(5))
    assert a == serialize_poses([PERSON] * 3, rng=np.random.default_rng(5))
    assert a != serialize_poses([PERSON] * 3)
    assert len(parse_poses(a)) == 3 and parse_poses(a).clean


def test_parse_values():
    (p,) = parse_poses(PERSON_TEXT + " [EOS]").items
    assert p.pose_tokens == PERSON.pose_tokens
    assert p.box == pytest.approx((100 / 999, 200 / 999, 500 / 999, 899 / 999))
    assert p.global_orient[0] == 1.0 and p.global_orient[1] == pytest.approx(0.5 / 499.5)
    assert p.camera == pytest.approx((-1.0, (50 - 49.95) / 49.95, 19.0))
    assert p.betas[2] == -3.0 and p.betas[9] == 3.0


def test_serialize_errors():
    bad = HumanPose(box=PERSON.box, pose_tokens=(1, 2), global_orient=PERSON.global_orient,
                    betas=PERSON.betas, camera=PERSON.camera)  # fmt: skip
    with pytest.raises(ValueError, match="pose_tokens must be 8 ids"):
        serialize_poses([bad])
    with pytest.raises(ValueError, match="outside"):
        serialize_poses([HumanPose(PERSON.box, (1024,) * 8, PERSON.global_orient, PERSON.betas, PERSON.camera)])


@pytest.mark.parametrize(
    ("mutate", "n_people", "n_warnings"),
    [
        (lambda t: "none", 0, 0),
        (lambda t: "", 0, 0),
        (lambda t: t + " " + t.replace("camera v0=0 ", "camera "), 1, 1),  # camera short of a value
        (lambda t: t.replace(" shape", " shape shape"), 0, 1),  # repeated group
        (lambda t: t.replace("global ", ""), 0, 1),  # values join pose's group: wrong length
        (lambda t: t.replace("v1=88", "v1=600"), 0, 1),  # pose id value out of range
        (lambda t: t.replace("v3=899", "v3=1899"), 0, 1),  # box value out of range
        (lambda t: t.replace(" pose", " extra pose"), 0, 1),  # stray word
        (lambda t: "a person " + t, 1, 1),
        (lambda t: t[: len(t) // 2], 0, 1),  # truncated
        (lambda t: t + " human", 1, 1),
    ],
)
def test_parse_malformed(mutate, n_people, n_warnings):
    result = parse_poses(mutate(PERSON_TEXT))
    assert len(result) == n_people
    assert len(result.warnings) == n_warnings, result.warnings


_unit = st.integers(0, 999).map(lambda v: v / 999)


@st.composite
def _person(draw):
    x0, x1 = sorted((draw(_unit), draw(_unit)))
    y0, y1 = sorted((draw(_unit), draw(_unit)))
    return HumanPose(
        box=(x0, y0, x1, y1),
        pose_tokens=tuple(draw(st.lists(st.integers(0, 1023), min_size=8, max_size=8))),
        global_orient=tuple(draw(st.lists(st.floats(-1, 1), min_size=9, max_size=9))),
        betas=tuple(draw(st.lists(st.floats(-4, 4), min_size=10, max_size=10))),
        camera=tuple(draw(st.lists(st.floats(-2, 25), min_size=3, max_size=3))),
    )


@settings(max_examples=50, deadline=None)
@given(st.lists(_person(), max_size=3), st.integers(0, 2**32 - 1))
def test_roundtrip_property(people, seed):
    text = serialize_poses(people, rng=np.random.default_rng(seed))
    parsed = parse_poses(text)
    assert parsed.clean and len(parsed) == len(people)
    assert [p.pose_tokens for p in parsed] == [p.pose_tokens for p in people]
    assert serialize_poses(parsed.items) == serialize_poses(people)  # values come back to their bins
