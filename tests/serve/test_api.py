"""The HTTP API on the shipped model: every endpoint, every class of bad input, concurrency, CLI parity."""

from __future__ import annotations

import asyncio
import base64
import io
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import matplotlib
import numpy as np
import pytest
import yaml
from PIL import Image

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient

from omnimask.data.synthworld.writer import encode
from omnimask.serve.app import BodyLimit, create_app
from omnimask.serve.engine import Engine
from omnimask.serve.settings import ServeSettings

PHOTO = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
BOXES = [{"class": "cube", "box": [0.1, 0.5, 0.4, 0.9]}, {"class": "sphere", "box": [0.6, 0.4, 0.9, 0.8]}]
CELL = 8  # pixels of one token of the shipped 64 px model (an 8 x 8 token grid)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def png(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return buf.getvalue()


def picture(text: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(text))))


@pytest.fixture(scope="module")
def engine():
    return Engine.load(settings=ServeSettings(gallery=12, max_upload_bytes=2_000_000, max_pixels=1_000_000,
                                              max_steps=32))


@pytest.fixture(scope="module")
def client(engine):
    return TestClient(create_app(engine))


def test_health_and_model_describe_the_served_model(client):
    assert client.get("/health").json()["status"] == "ok"
    info = client.get("/model").json()
    names = {m["name"]: m for m in info["modalities"]}
    assert info["resolution"] == 64 and info["parameters"] > 0
    assert names["rgb@64"]["input"] and not names["rgb@64"]["output"]
    assert names["tok_depth@64"]["output"] and names["caption"]["tokenizer"]
    ranges = names["metadata"]["ranges"]  # bounded metadata keys (the page draws bars over them), not counts
    assert ranges["brightness"] == [0, 255] and "n_coco_instances" not in ranges
    assert client.get("/docs").status_code == 200 and "/generate" in client.get("/openapi.json").json()["paths"]


def test_generate_from_a_photo_gives_the_cli_bytes_and_the_same_seed_the_same_bytes(client, tmp_path):
    from omnimask.cli import main

    body = {"conditions": {"rgb": b64(PHOTO.read_bytes())}, "targets": ["depth", "caption"], "seed": 3}
    first, again = client.post("/generate", json=body), client.post("/generate", json=body)
    assert first.status_code == 200, first.text
    out = first.json()["outputs"]
    assert picture(out["depth"]["png"]).shape == (64, 64, 3) and out["caption"]["text"]
    assert again.json()["outputs"] == out
    assert main(["generate", "--input", f"rgb={PHOTO}", "--target", "depth,caption", "--seed", "3",
                 "--out", str(tmp_path)]) == 0
    assert base64.b64decode(out["depth"]["png"]) == (tmp_path / "tok_depth@64.png").read_bytes()
    assert out["caption"]["text"] == (tmp_path / "caption.txt").read_text().strip()


def test_generate_with_guidance_settings_and_an_inpainting_mask(client):
    rgb = np.asarray(Image.open(PHOTO).convert("RGB").resize((64, 64)))
    keep = np.zeros((64, 64), np.uint8)
    keep[:, :32] = 255
    body = {"conditions": {"caption": "a red cube and a blue sphere", "det": BOXES},
            "targets": ["tok_rgb"], "settings": {"tok_rgb": {"num_steps": 4, "guidance_scale": -1.0,
                                                             "guidance_conditions": ["caption"]}}}
    negative = client.post("/generate", json=body)
    assert negative.status_code == 200, negative.text
    assert "CFG -1" in negative.json()["plan"]
    given = {"conditions": {"tok_rgb": b64(png(rgb))}, "targets": ["tok_rgb"], "masks": {"tok_rgb": b64(png(keep))},
             "settings": {"tok_rgb": {"temperature": 1.0, "num_steps": 4}}}
    one, two = (client.post("/generate", json={**given, "seed": s}) for s in (1, 2))  # in-paint the right half
    assert one.status_code == two.status_code == 200, one.text
    a, b = (picture(r.json()["outputs"]["tok_rgb"]["png"]).astype(float) for r in (one, two))
    assert (a[:, :32] == rgb[:, :32]).all() and (b[:, :32] == rgb[:, :32]).all()  # the given half, pixel for pixel
    assert np.abs(a[:, 32:] - b[:, 32:]).mean() > 1  # the filled half depends on the seed
    whole = client.post("/generate", json={**given, "masks": {}})
    assert whole.status_code == 422 and whole.json()["detail"][0]["loc"] == ["body", "targets", 0]
    stray = client.post("/generate", json={**given, "masks": {"depth": b64(png(keep))}})
    assert stray.status_code == 422 and stray.json()["detail"][0]["loc"] == ["body", "masks", "depth"]


def keep_outside(*boxes: list[float]) -> np.ndarray:
    """(64, 64) uint8 keep mask: 0 over the boxes ([x0, y0, x1, y1] in [0, 1], rounded outwards), 255 elsewhere."""
    keep = np.full((64, 64), 255, np.uint8)
    for x0, y0, x1, y1 in boxes:
        keep[int(y0 * 64) : int(np.ceil(y1 * 64)), int(x0 * 64) : int(np.ceil(x1 * 64))] = 0
    return keep


def test_inpainting_box_moves_keep_every_pixel_outside_the_boxes(client):
    """The page's box drag: the current RGB, the old and new place of a box blanked, caption + moved boxes;
    the answer given back with the next move's mask goes on from it."""
    scene = client.get("/scene/0").json()
    current, det = scene["rgb"], scene["det"]
    for dx in (0.25, -0.15):
        old = det[0]["box"]
        shift = dx if old[2] + dx <= 1 and old[0] + dx >= 0 else -dx
        new = [old[0] + shift, old[1], old[2] + shift, old[3]]
        det = [{**det[0], "box": new}, *det[1:]]
        keep = keep_outside(old, new)
        body = {"conditions": {"tok_rgb": current, "caption": scene["caption"], "det": det},
                "masks": {"tok_rgb": b64(png(keep))}, "targets": ["tok_rgb"],
                "settings": {"tok_rgb": {"num_steps": 4, "temperature": 1.0}}, "seed": 0}
        response = client.post("/generate", json=body)
        assert response.status_code == 200, response.text
        answer = response.json()["outputs"]["tok_rgb"]["png"]
        kept = keep.reshape(8, CELL, 8, CELL).min(axis=(1, 3)) == 255  # a token is kept when its whole patch is
        redone = np.kron(~kept, np.ones((CELL, CELL), bool))
        before, after = picture(current).astype(int), picture(answer).astype(int)
        assert (before[~redone] == after[~redone]).all(), "kept pixel for pixel outside the blanked tokens"
        assert np.abs(before[redone] - after[redone]).mean() > 2, "generated again inside them"
        current = answer


def test_a_plan_gives_the_bytes_of_the_cli_with_that_plan_file(client, tmp_path):
    from omnimask.cli import main
    from omnimask.generation import load_plan
    from omnimask.generation.plan import describe_plan

    plan = {"steps": [{"target": "tok_depth@64", "scheme": "maskgit", "num_steps": 3, "temperature": 0.7},
                      {"target": "caption", "scheme": "autoregressive", "temperature": 0.5}]}
    (tmp_path / "plan.yaml").write_text(yaml.safe_dump(plan))
    response = client.post("/generate", json={"conditions": {"rgb": b64(PHOTO.read_bytes())}, "plan": plan, "seed": 5})
    assert response.status_code == 200, response.text
    out = response.json()
    assert out["plan"] == describe_plan(load_plan(tmp_path / "plan.yaml"))
    assert list(out["outputs"]) == ["depth", "caption"]
    assert main(["generate", "--input", f"rgb={PHOTO}", "--plan", str(tmp_path / "plan.yaml"), "--seed", "5",
                 "--out", str(tmp_path / "cli")]) == 0
    assert base64.b64decode(out["outputs"]["depth"]["png"]) == (tmp_path / "cli" / "tok_depth@64.png").read_bytes()
    assert out["outputs"]["caption"]["text"] == (tmp_path / "cli" / "caption.txt").read_text().strip()
    released = {"cond_domains": "rgb@64", "target_domains": "tok_depth", "autoregression_schemes": "roar",
                "decoding_steps": 2, "temps": 0.5}  # a released settings file, short names resolved
    response = client.post("/generate", json={"conditions": {"rgb": b64(PHOTO.read_bytes())}, "plan": released})
    assert response.status_code == 200 and response.json()["plan"].startswith("tok_depth@64 (roar × 2"), response.text


def test_edit_moves_a_box_and_the_output_follows(client):
    body = {"conditions": {"caption": "a red cube and a blue sphere", "det": BOXES}, "targets": ["tok_rgb"],
            "seed": 1, "settings": {"tok_rgb": {"num_steps": 4}}}
    plain = client.post("/generate", json=body).json()
    moved = client.post("/edit", json={**body, "edits": [{"op": "move_box", "index": 0, "dx": 0.4}]})
    assert moved.status_code == 200, moved.text
    assert moved.json()["conditions"]["det"][0]["box"] == pytest.approx([0.5, 0.5, 0.8, 0.9])
    assert moved.json()["outputs"]["tok_rgb"]["png"] != plain["outputs"]["tok_rgb"]["png"]
    steered = client.post("/edit", json={**body, "edits": [{"op": "set_metadata", "values": {"brightness": 40}}]})
    assert steered.status_code == 200 and steered.json()["conditions"]["metadata"]["brightness"] == 40


def test_edit_repaints_a_semantic_class(client, engine):
    from omnimask.data.synthworld import SynthWorldConfig, render_sample
    from omnimask.data.synthworld.writer import encode

    scene = render_sample(1, 5, SynthWorldConfig(resolution=64))
    old = int(np.bincount(scene["semseg"].ravel()).argmax())
    body = {"conditions": {"semseg": b64(encode("semseg", scene["semseg"]))}, "targets": ["tok_rgb"],
            "settings": {"tok_rgb": {"num_steps": 2}}}
    plain = client.post("/generate", json=body)
    repainted = client.post("/edit", json={**body, "edits": [{"op": "replace_class", "old": old, "new": old + 1}]})
    assert plain.status_code == repainted.status_code == 200, repainted.text
    assert plain.json()["outputs"]["tok_rgb"]["png"] != repainted.json()["outputs"]["tok_rgb"]["png"]


def test_retrieve_ranks_the_gallery_by_any_query(client):
    response = client.post("/retrieve", json={"query": {"caption": "a red cube"}, "top_k": 3})
    assert response.status_code == 200, response.text
    hits = response.json()["hits"]
    assert len(hits) == 3 and response.json()["gallery"] == 12
    assert [h["similarity"] for h in hits] == sorted((h["similarity"] for h in hits), reverse=True)
    assert picture(hits[0]["png"]).shape == (64, 64, 3)
    again = client.post("/retrieve", json={"query": {"caption": "a red cube"}, "top_k": 3}).json()["hits"]
    assert [h["scene"] for h in again] == [h["scene"] for h in hits]  # greedy embedding: no seed, same ranking


def big_png(width: int, height: int) -> str:
    return b64(png(np.zeros((height, width, 3), np.uint8)))


CAPTION = {"caption": "a cube"}
EDIT = {"conditions": {"caption": "a cube", "det": BOXES}, "targets": ["depth"]}


@pytest.mark.parametrize(("path", "body", "status", "loc", "says"), [
    ("/generate", {"conditions": {"colour": "red"}, "targets": ["depth"]}, 422, ["body", "conditions", "colour"], ""),
    ("/generate", {"conditions": {"rgb": "not base64!"}, "targets": ["depth"]}, 422, ["body", "conditions", "rgb"], ""),
    ("/generate", {"conditions": {"rgb": b64(b"GIF89a" + b"\0" * 20)}, "targets": ["depth"]}, 422,
     ["body", "conditions", "rgb"], "the 26 bytes given (starting b'GIF89a"),
    ("/generate", {"conditions": {"rgb": b64(b"\0" * 3_000_000)}, "targets": ["depth"]}, 413,
     ["body", "conditions", "rgb"], "max_upload_bytes"),
    ("/generate", {"conditions": {"rgb": big_png(1500, 1000)}, "targets": ["depth"]}, 413,
     ["body", "conditions", "rgb"], "limit"),
    ("/generate", {"conditions": {"depth": b64(encode("depth", np.ones((32, 32), np.float32)))},
                   "targets": ["tok_rgb"]}, 422, ["body", "conditions", "depth"], "32x32"),
    ("/generate", {"conditions": {"tok_rgb": [1, 2, 3]}, "targets": ["depth"]}, 422, ["body", "conditions", "tok_rgb"],
     "expected a base64 string"),
    ("/generate", {"conditions": {"caption": "a red cube and a blue sphere " * 55}, "targets": ["depth"]}, 413,
     ["body", "conditions", "caption"], "tokens (with [EOS]) exceed the modality's 48"),
    ("/generate", {"conditions": {"det": [{"class": "cube", "box": [0, 0, 1, 1]}] * 30}, "targets": ["depth"]}, 413,
     ["body", "conditions", "det"], "151 tokens (with [EOS]) exceed the modality's 64"),
    ("/generate", {"conditions": CAPTION, "targets": ["rgb"]}, 422, ["body", "targets", 0], ""),
    ("/generate", {"conditions": CAPTION, "targets": ["depth"] * 13}, 413, ["body", "targets"], "max_targets (12)"),
    ("/generate", {"conditions": CAPTION, "targets": ["depth", "tok_depth"]}, 422, ["body", "targets", 1], "twice"),
    ("/generate", {"conditions": CAPTION, "targets": ["depth"], "settings": {"depth": {"num_steps": 500}}},
     413, ["body", "settings", "depth", "num_steps"], "max_steps"),
    ("/generate", {"conditions": CAPTION, "targets": ["det"], "settings": {"det": {"scheme": "maskgit"}}},
     422, ["body", "settings", "det", "scheme"], "does not fit a sequence target"),
    ("/generate", {"conditions": CAPTION, "targets": ["depth"], "settings": {"depth": {"scheme": "autoregressive"}}},
     422, ["body", "settings", "depth", "scheme"], "use one of ['maskgit', 'roar']"),
    ("/generate", {"conditions": CAPTION, "targets": ["tok_rgb"],
                   "settings": {"tok_rgb": {"guidance_scale": 2, "guidance_conditions": ["det"]}}},
     422, ["body", "settings", "tok_rgb", "guidance_conditions"], "cannot be guided by ['det']"),
    ("/generate", {"conditions": {"det": [{"class": "cube", "box": [0.5, 0.5, 0.2, 0.9]}]}, "targets": ["depth"]},
     422, ["body", "conditions", "det", 0], ""),
    ("/generate", {"conditions": {"caption": ""}, "targets": ["depth"]}, 422, ["body", "conditions", "caption"], ""),
    ("/generate", {"conditions": {"caption": "x"}, "targets": []}, 422, ["body", "targets"], "at least one target"),
    ("/generate", {"conditions": {"caption": "x"}, "targets": ["depth"], "seed": -1}, 422, ["body", "seed"], ""),
    ("/generate", {"conditions": {"caption": "x"}, "targets": ["depth"], "colour": 1}, 422, ["body", "colour"], ""),
    ("/generate", {"conditions": {}, "targets": ["depth"]}, 422, ["body", "conditions"], ""),
    ("/generate", {"conditions": {"caption": "x"}, "targets": ["depth"], "settings": {"normal": {"num_steps": 2}}},
     422, ["body", "settings", "normal"], ""),
    ("/generate", {"conditions": CAPTION, "plan": {"steps": [{"target": "depth", "colour": 2}]}}, 422,
     ["body", "plan", "steps", 0], "unknown fields ['colour']"),
    ("/generate", {"conditions": CAPTION, "plan": {"steps": [{"target": "depth", "num_steps": 500}]}}, 413,
     ["body", "plan", "steps", 0, "num_steps"], "max_steps (32)"),
    ("/generate", {"conditions": CAPTION, "plan": {"steps": [{"target": "depth", "temperature": "hot"}]}}, 422,
     ["body", "plan", "steps", 0, "temperature"], "valid number"),
    ("/generate", {"conditions": CAPTION, "plan": {"steps": [{"target": "caption", "scheme": "roar"}]}}, 422,
     ["body", "plan", "steps", 0, "scheme"], "does not fit"),
    ("/generate", {"conditions": CAPTION, "plan": {"steps": [{"target": "depth"},
                                                           {"target": "normal", "token_schedule": "zigzag"}]}},
     422, ["body", "plan", "steps", 1], "unknown token schedule 'zigzag'"),
    ("/generate", {"conditions": CAPTION, "plan": {"steps": [{"target": "depth", "guidance_scale": 2,
                                                            "guidance_conditions": ["det"]}]}},
     422, ["body", "plan", "steps", 0, "guidance_conditions"], "cannot be guided"),
    ("/generate", {"conditions": CAPTION, "plan": {"conditions": ["rgb"], "steps": [{"target": "depth"}]}}, 422,
     ["body", "plan", "conditions"], "lack"),
    ("/generate", {"conditions": CAPTION, "plan": {"colour": 1}}, 422, ["body", "plan"], "not a plan"),
    ("/generate", {"conditions": CAPTION, "plan": {"target_domains": "tok_depth@64-det", "decoding_steps": "2-1-3"}},
     422, ["body", "plan"], "3 values for 2 targets"),
    ("/generate", {"conditions": CAPTION, "plan": {"steps": [{"target": "depth"}]},
                   "settings": {"depth": {"num_steps": 2}}}, 422, ["body", "settings"], "either a plan"),
    ("/generate", {"conditions": CAPTION, "targets": ["normal"], "plan": {"steps": [{"target": "depth"}]}}, 422,
     ["body", "targets"], "differ from the plan's"),
    ("/edit", {**EDIT, "edits": [{"op": "move_box", "index": 7, "dx": 0.1}]}, 422, ["body", "edits", 0, "index"], ""),
    ("/edit", {**EDIT, "edits": [{"op": "resize_box", "index": 2, "factor": 2.0}]}, 422,
     ["body", "edits", 0, "index"], "no box 2"),
    ("/edit", {**EDIT, "edits": [{"op": "resize_box", "index": 0, "factor": 0}]}, 422,
     ["body", "edits", 0, "resize_box", "factor"], ""),
    ("/edit", {**EDIT, "edits": [{"op": "replace_class", "old": 1, "new": 2}]}, 422, ["body", "edits", 0], ""),
    ("/edit", {**EDIT, "edits": [{"op": "set_metadata", "values": {"shininess": 3}}]}, 422,
     ["body", "edits", 0, "values"], "unknown metadata keys ['shininess']"),
    ("/edit", {**EDIT, "edits": [{"op": "teleport"}]}, 422, ["body", "edits", 0], ""),
    ("/retrieve", {"query": {"caption": "a cube"}, "top_k": 50}, 422, ["body", "top_k"], ""),
    ("/retrieve", {"query": {}}, 422, ["body", "query"], ""),
    ("/retrieve", {"query": {"caption": "a red cube and a blue sphere " * 55}}, 413, ["body", "query", "caption"],
     "exceed"),
])
def test_every_bad_input_is_a_4xx_naming_its_field(client, path, body, status, loc, says):
    response = client.post(path, json=body)
    assert response.status_code == status, response.text
    detail = response.json()["detail"]
    assert detail[0]["loc"][: len(loc)] == loc and says in detail[0]["msg"], detail
    assert "Traceback" not in response.text and "<_io." not in response.text


def test_broken_json_a_bad_path_and_an_oversize_body_are_4xx(client, engine):
    broken = client.post("/generate", content=b"{not json", headers={"content-type": "application/json"})
    assert broken.status_code == 422
    scene = client.get("/scene/-1")
    assert scene.status_code == 422 and scene.json()["detail"][0]["loc"] == ["path", "index"]
    small = TestClient(create_app(Engine(engine.pipe, ServeSettings(max_request_bytes=1000))))
    json_body = {"content-type": "application/json"}
    for content in (b"x" * 2000, iter([b"x" * 600, b"y" * 600])):  # with a Content-Length, and chunked
        response = small.post("/generate", content=content, headers=json_body)
        assert response.status_code == 413 and response.json()["detail"][0]["loc"] == ["body"], response.text
        assert "over max_request_bytes (1000)" in response.json()["detail"][0]["msg"]
    fits = small.post("/generate", content=iter([b'{"conditions": {"caption": "a cube"}, ', b'"targets": ["depth"]}']),
                      headers=json_body)
    assert fits.status_code == 200, fits.text


def test_an_oversize_body_is_refused_before_the_app_reads_it():
    sent = []

    async def app(scope, receive, send):
        raise AssertionError("the app ran")

    async def receive():
        raise AssertionError("the body was read")

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/generate", "headers": [(b"content-length", b"5000000")]}
    asyncio.run(BodyLimit(app, 1000)(scope, receive, send))
    assert sent[0]["status"] == 413 and b"5000000 bytes, over max_request_bytes (1000)" in sent[1]["body"]


def test_a_full_queue_answers_503_with_retry_after(engine):
    busy = Engine(engine.pipe, ServeSettings(max_jobs=1))
    client = TestClient(create_app(busy))
    with busy.job():  # the one slot is taken
        response = client.post("/generate", json={"conditions": {"caption": "a cube"}, "targets": ["depth"]})
    assert response.status_code == 503 and response.headers["retry-after"] == "1"
    assert client.post("/generate", json={"conditions": {"caption": "a cube"}, "targets": ["depth"]}).status_code == 200


def test_parallel_requests_are_all_answered_and_none_mixed_up(client):
    def ask(seed):
        body = {"conditions": {"caption": f"a red cube number {seed}"}, "targets": ["tok_depth"], "seed": seed}
        response = client.post("/generate", json=body)
        assert response.status_code == 200, response.text
        return threading.get_ident(), response.json()["outputs"]["depth"]["png"]

    with ThreadPoolExecutor(8) as pool:
        parallel = list(pool.map(ask, range(8)))
    assert len({t for t, _ in parallel}) > 1  # really concurrent
    assert [p for _, p in parallel] == [ask(seed)[1] for seed in range(8)]


def test_an_unexpected_failure_is_one_json_line_not_a_trace(engine, monkeypatch):
    client = TestClient(create_app(engine), raise_server_exceptions=False)
    monkeypatch.setattr(engine, "info", lambda: 1 / 0)
    response = client.get("/model")
    assert response.status_code == 500 and "Traceback" not in response.text
    assert response.json()["detail"][0]["msg"].startswith("internal error (ZeroDivisionError)")


def test_the_serve_command_checks_its_limits(capsys):
    from omnimask.cli import main

    assert main(["serve", "--set", "max_jobs=many"]) == 2
    assert "max_jobs takes an integer" in capsys.readouterr().err
    assert main(["serve", "--set", "max_gpus=1"]) == 2
    assert main(["serve", "--port", "0"]) == 2
