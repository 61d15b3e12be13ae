"""The HTTP API on the shipped model: every endpoint, every class of bad input, concurrency, CLI parity."""

from __future__ import annotations

import base64
import io
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import matplotlib
import numpy as np
import pytest
from PIL import Image

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient

from omnimask.serve.app import create_app
from omnimask.serve.engine import Engine
from omnimask.serve.settings import ServeSettings

PHOTO = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
BOXES = [{"class": "cube", "box": [0.1, 0.5, 0.4, 0.9]}, {"class": "sphere", "box": [0.6, 0.4, 0.9, 0.8]}]


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
    return Engine.load(settings=ServeSettings(gallery=12, max_upload_bytes=2_000_000, max_steps=32))


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
    assert np.abs(a[:, :16] - b[:, :16]).mean() < 0.25 * np.abs(a[:, 48:] - b[:, 48:]).mean()  # kept vs filled
    whole = client.post("/generate", json={**given, "masks": {}})
    assert whole.status_code == 422 and whole.json()["detail"][0]["loc"] == ["body", "targets", 0]
    stray = client.post("/generate", json={**given, "masks": {"depth": b64(png(keep))}})
    assert stray.status_code == 422 and stray.json()["detail"][0]["loc"] == ["body", "masks", "depth"]


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


@pytest.mark.parametrize(("body", "status", "loc"), [
    ({"conditions": {"colour": "red"}, "targets": ["depth"]}, 422, ["body", "conditions", "colour"]),
    ({"conditions": {"rgb": "not base64!"}, "targets": ["depth"]}, 422, ["body", "conditions", "rgb"]),
    ({"conditions": {"rgb": b64(b"GIF89a" + b"\0" * 20)}, "targets": ["depth"]}, 422, ["body", "conditions", "rgb"]),
    ({"conditions": {"rgb": b64(b"\0" * 3_000_000)}, "targets": ["depth"]}, 413, ["body", "conditions", "rgb"]),
    ({"conditions": {"caption": "a cube"}, "targets": ["rgb"]}, 422, ["body", "targets", 0]),
    ({"conditions": {"caption": "a cube"}, "targets": ["depth"], "settings": {"depth": {"num_steps": 500}}},
     413, ["body", "settings", "depth", "num_steps"]),
    ({"conditions": {"det": [{"class": "cube", "box": [0.5, 0.5, 0.2, 0.9]}]}, "targets": ["depth"]},
     422, ["body", "conditions", "det", 0]),
    ({"conditions": {"caption": ""}, "targets": ["depth"]}, 422, ["body", "conditions", "caption"]),
    ({"conditions": {"caption": "x"}, "targets": []}, 422, ["body", "targets"]),
    ({"conditions": {"caption": "x"}, "targets": ["depth"], "seed": -1}, 422, ["body", "seed"]),
    ({"conditions": {"caption": "x"}, "targets": ["depth"], "colour": 1}, 422, ["body", "colour"]),
    ({"conditions": {}, "targets": ["depth"]}, 422, ["body", "conditions"]),
    ({"conditions": {"caption": "x"}, "targets": ["depth"], "settings": {"normal": {"num_steps": 2}}},
     422, ["body", "settings", "normal"]),
])
def test_every_bad_input_is_a_4xx_naming_its_field(client, body, status, loc):
    response = client.post("/generate", json=body)
    assert response.status_code == status, response.text
    detail = response.json()["detail"]
    assert detail[0]["loc"][: len(loc)] == loc and detail[0]["msg"]
    assert "Traceback" not in response.text


def test_bad_edits_retrievals_and_json_are_4xx(client):
    base = {"conditions": {"caption": "a cube", "det": BOXES}, "targets": ["depth"]}
    cases = [
        ("/edit", {**base, "edits": [{"op": "move_box", "index": 7, "dx": 0.1}]}, ["body", "edits", 0, "index"]),
        ("/edit", {**base, "edits": [{"op": "replace_class", "old": 1, "new": 2}]}, ["body", "edits", 0]),
        ("/edit", {**base, "edits": [{"op": "teleport"}]}, ["body", "edits", 0]),
        ("/retrieve", {"query": {"caption": "a cube"}, "top_k": 50}, ["body", "top_k"]),
        ("/retrieve", {"query": {}}, ["body", "query"]),
    ]
    for path, body, loc in cases:
        response = client.post(path, json=body)
        assert response.status_code == 422, (path, body, response.text)
        assert response.json()["detail"][0]["loc"][: len(loc)] == loc, response.text
    broken = client.post("/generate", content=b"{not json", headers={"content-type": "application/json"})
    assert broken.status_code == 422


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
