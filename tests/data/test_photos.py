"""Real photographs end to end: reading any file, the photo labelers, ``omnimask label`` and its bad input.

The photographs are the ones matplotlib ships in ``mpl-data/sample_data`` (an installed dependency).
"""

import json
import shutil
from pathlib import Path

import matplotlib
import numpy as np
import pytest
import torch
from hostile_files import huge_png
from PIL import Image

from omnimask.config import ConfigError
from omnimask.data.labelers.photo import CannyLabeler, FaceLabeler, MetadataLabeler, PaletteLabeler, canny_edges
from omnimask.data.labelers.registry import load_image_labeler
from omnimask.data.labelling import key_split, label_folder
from omnimask.images import Crop, ImageError, crop_photo, read_image, square

SAMPLES = Path(matplotlib.get_data_path()) / "sample_data"
HOPPER = SAMPLES / "grace_hopper.jpg"  # 512 x 600 portrait photograph
PRESENT = SAMPLES / "Minduka_Present_Blue_Pack.png"  # a photographed gift box


def _crop(rgb):
    return Crop(rgb, rgb, rgb.shape[1], rgb.shape[0])


def test_read_image_applies_exif_orientation_and_converts_every_mode(tmp_path):
    photo = read_image(HOPPER)
    assert photo.rgb.shape == (600, 512, 3) and (photo.width, photo.height) == (512, 600)
    src = Image.open(HOPPER)
    exif = src.getexif()
    exif[0x0112] = 6  # "rotate 90° clockwise to view"
    src.save(tmp_path / "turned.jpg", exif=exif, quality=95)
    turned = read_image(tmp_path / "turned.jpg")
    assert turned.rgb.shape == (512, 600, 3) and (turned.width, turned.height) == (600, 512)
    expected = np.rot90(np.asarray(Image.open(tmp_path / "turned.jpg").convert("RGB")), k=-1)
    assert np.abs(turned.rgb.astype(int) - expected.astype(int)).mean() < 1.0

    grey = np.asarray(src.convert("L"))
    Image.fromarray(grey).save(tmp_path / "grey.png")
    got = read_image(tmp_path / "grey.png").rgb
    assert (got == grey[..., None]).all()
    Image.fromarray(grey.astype(np.uint16) * 257).save(tmp_path / "deep.png")  # 16-bit grey
    np.testing.assert_array_equal(read_image(tmp_path / "deep.png").rgb[..., 0], grey)
    rgba = np.dstack([np.asarray(src.convert("RGB")), np.zeros(grey.shape, np.uint8)])
    Image.fromarray(rgba, "RGBA").save(tmp_path / "clear.png")  # fully transparent: white underneath
    assert (read_image(tmp_path / "clear.png").rgb == 255).all()


def test_unreadable_and_huge_files_are_refused_with_a_reason(tmp_path):
    (tmp_path / "empty.jpg").write_bytes(b"")
    with pytest.raises(ImageError, match="empty file"):
        read_image(tmp_path / "empty.jpg")
    (tmp_path / "text.png").write_text("not an image")
    with pytest.raises(ImageError, match="not a readable image"):
        read_image(tmp_path / "text.png")
    (tmp_path / "cut.jpg").write_bytes(HOPPER.read_bytes()[:3000])
    with pytest.raises(ImageError, match="corrupt"):
        read_image(tmp_path / "cut.jpg")
    # A PNG whose header claims 20000 x 20000 pixels: refused before anything is decoded.
    (tmp_path / "huge.png").write_bytes(huge_png())
    with pytest.raises(ImageError, match="over the 100 MP limit"):
        read_image(tmp_path / "huge.png")
    small = read_image(HOPPER, max_pixels=100_000)  # a JPEG over the limit is decoded reduced
    assert small.rgb.shape[0] * small.rgb.shape[1] <= 100_000 and (small.width, small.height) == (512, 600)


def test_square_takes_the_centred_square():
    rgb = np.zeros((40, 60, 3), np.uint8)
    rgb[:, 10:50] = 200  # the centred 40 x 40 square
    assert (square(rgb, 40) == 200).all()
    assert square(read_image(HOPPER).rgb, 64).shape == (64, 64, 3)


def test_metadata_palette_and_edges_match_independent_computations():
    constant = np.full((32, 32, 3), (90, 90, 90), np.uint8)
    meta = MetadataLabeler().label([Crop(constant, constant, 300, 200)])[0]["metadata"]
    assert meta["brightness"] == pytest.approx(90.0) and meta["contrast"] == pytest.approx(0.0)
    assert meta["entropy"] == 0.0 and meta["saturation"] == 0.0
    assert (meta["original_width"], meta["original_height"]) == (300, 200)
    two = np.zeros((32, 32, 3), np.uint8)
    two[:, :16], two[:, 16:] = (220, 20, 20), (20, 20, 220)
    palette = PaletteLabeler().label([_crop(two)])[0]["color_palette"]
    assert sorted(map(tuple, palette["colors"])) == [(20, 20, 220), (220, 20, 20)]
    assert palette["fractions"] == [0.5, 0.5]
    pytest.importorskip("cv2")
    square_img = np.zeros((64, 64, 3), np.uint8)
    square_img[16:48, 16:48] = 255
    edges = CannyLabeler().label([_crop(square_img)])[0]["edges"]
    ring = np.zeros((64, 64), bool)
    ring[15:49, 15:49] = True
    ring[18:46, 18:46] = False
    assert edges.any() and not (edges & ~ring).any()  # only on the square's border
    assert not canny_edges(constant).any()


def test_the_face_labeler_finds_grace_hoppers_face():
    pytest.importorskip("cv2")
    detail = square(read_image(HOPPER).rgb, 512)
    boxes = FaceLabeler().boxes(detail)
    assert len(boxes) == 1
    x0, y0, x1, y1 = boxes[0]
    assert 0.25 < x0 < x1 < 0.8 and 0.05 < y0 < y1 < 0.65  # her face: upper middle of the portrait
    assert FaceLabeler().boxes(np.zeros((256, 256, 3), np.uint8)) == []


def test_a_local_network_runs_from_an_exported_program(tmp_path):
    class Flat(torch.nn.Module):
        def forward(self, x):
            return x[:, :1] * 0 + 2.0  # (B, 1, S, S) depth of 2 m

    with pytest.raises(ConfigError, match=r"model\.pt2"):
        load_image_labeler("dpt_depth")
    program = torch.export.export(Flat(), (torch.zeros(1, 3, 32, 32),))
    torch.export.save(program, str(tmp_path / "model.pt2"))
    (tmp_path / "labeler.json").write_text(json.dumps({"input_size": 32}))
    labeler = load_image_labeler("dpt_depth", tmp_path)
    crop = crop_photo(read_image(HOPPER), 48)
    depth = labeler.label([crop])[0]["depth"]
    assert labeler.writes == ("depth",) and depth.shape == (48, 48) and np.allclose(depth, 2.0)

    class TwoHalves(torch.nn.Module):  # instance 1 on the left half, background on the right
        def forward(self, x):
            left = torch.ones_like(x[:, :1])
            left[..., x.shape[-1] // 2 :] = -1.0
            return torch.cat([left, left * 0 - 1.0], dim=1)

    sam = tmp_path / "sam"
    sam.mkdir()
    torch.export.save(torch.export.export(TwoHalves(), (torch.zeros(1, 3, 32, 32),)), str(sam / "model.pt2"))
    (sam / "labeler.json").write_text(json.dumps({"input_size": 32}))
    instance = load_image_labeler("sam_instance", sam).label([crop])[0]["instance"]
    assert (instance[:, :24] == 1).all() and (instance[:, 24:] == 0).all()
    with pytest.raises(ConfigError, match="feature labeler"):
        load_image_labeler("miniclip")


def _photos(root):
    (root / "trip").mkdir(parents=True)
    shutil.copy(HOPPER, root / "hopper.jpg")
    shutil.copy(PRESENT, root / "trip" / "present pack.png")
    (root / "empty.jpg").write_bytes(b"")
    (root / "broken.png").write_bytes(PRESENT.read_bytes()[:500])
    return root


def test_label_writes_the_dataset_layout_resumes_and_refuses_another_dataset(tmp_path):
    photos = _photos(tmp_path / "photos")
    labelers = [MetadataLabeler(), PaletteLabeler()]
    out = tmp_path / "ds"
    report = label_folder(photos, out, labelers, resolution=32, progress=False)
    assert report["labelled_now"] == 2 and sorted(s["file"] for s in report["skipped"]) == ["broken.png", "empty.jpg"]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["complete"] and manifest["source"] == "images" and set(manifest["modalities"]) == {
        "rgb", "metadata", "color_palette"}
    split = key_split("trip_present_pack_png")
    rgb = np.asarray(Image.open(out / split / "rgb" / "trip_present_pack_png.png"))
    np.testing.assert_array_equal(rgb, square(read_image(PRESENT).rgb, 32))
    again = label_folder(photos, out, labelers, resolution=32, progress=False)
    assert again["labelled_now"] == 0 and len(again["skipped"]) == 2  # resumed: nothing redone
    with pytest.raises(ConfigError, match="resolution=32"):
        label_folder(photos, out, labelers, resolution=64, progress=False)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="not empty"):
        label_folder(photos, tmp_path / "other", labelers, progress=False)
    (tmp_path / "nothing").mkdir()
    with pytest.raises(ConfigError, match="holds no images"):
        label_folder(tmp_path / "nothing", tmp_path / "ds2", labelers, progress=False)


def test_photos_to_tokens_to_shards_to_training_to_generation(tmp_path, capsys):
    """label → pretokenize → shard → a few fine-tuning steps from the shipped model → generate from a photo."""
    from omnimask.cli import main

    photos = _photos(tmp_path / "photos")
    labelers = "metadata,color_palette,synth_small" + (",canny,faces" if _has_cv2() else "")
    ds, tokens, shards, run = (tmp_path / n for n in ("ds", "tokens", "shards", "run"))
    assert main(["label", str(photos), "--out", str(ds), "--labelers", labelers, "--quiet"]) == 0
    manifest = json.loads((ds / "manifest.json").read_text())
    assert manifest["labelers"]["synth_small"]["standin"] is True
    assert main(["pretokenize", str(ds), "--out", str(tokens)]) == 0
    stored = json.loads((tokens / "manifest.json").read_text())["modalities"]
    assert {"rgb@64", "tok_depth@64", "tok_normal@64", "tok_semseg@64", "tok_clip@64", "metadata"} <= set(stored)
    assert main(["shard", str(tokens), "--out", str(shards), "--samples-per-shard", "1"]) == 0
    shipped = str(Path(__file__).resolve().parents[2] / "omnimask" / "assets" / "models" / "synth_small")
    assert main(["train", "--recipe", "synth_small", "--out", str(run), "--set", "data.source=shards",
                 "--set", f"data.path={shards}", "--set", f"init_from={shipped}", "--set", "steps=2",
                 "--set", "batch_size=2", "--set", "eval_every=0", "--set", "save_every=0",
                 "--set", "tensorboard=false", "--set", "progress=false"]) == 0
    assert main(["generate", "--model", str(run / "checkpoint"), "--input", f"rgb={photos / 'hopper.jpg'}",
                 "--target", "depth", "--out", str(tmp_path / "gen")]) == 0
    depth = np.asarray(Image.open(tmp_path / "gen" / "tok_depth@64.png"))
    assert depth.shape[:2] == (64, 64) and depth.std() > 0
    capsys.readouterr()


def _has_cv2():
    try:
        import cv2  # noqa: F401
    except ImportError:
        return False
    return True


def _export(module, folder, example, **settings):
    """``folder/model.pt2`` (batch dimension dynamic) and ``folder/labeler.json``."""
    folder.mkdir(parents=True, exist_ok=True)
    program = torch.export.export(module, (example,), dynamic_shapes={"x": {0: torch.export.Dim("batch")}})
    torch.export.save(program, str(folder / "model.pt2"))
    (folder / "labeler.json").write_text(json.dumps({"input_size": example.shape[-1], **settings}))
    return folder


def test_a_captioner_runs_from_an_exported_program_and_decodes_through_its_vocab(tmp_path):
    class Fixed(torch.nn.Module):  # "a red cube", then end of sequence, then a token that must be ignored
        def forward(self, x):
            return (x[:, 0, 0, :6] * 0).long() + torch.tensor([1, 2, 3, 4, 0, 2])

    folder = _export(Fixed(), tmp_path / "cap", torch.zeros(2, 3, 32, 32), eos=0)
    with pytest.raises(ConfigError, match=r"vocab\.json"):
        load_image_labeler("captioner", folder)
    (folder / "vocab.json").write_text(json.dumps(["</s>", "▁a", "▁red", "▁cu", "be"]))
    labeler = load_image_labeler("captioner", folder)
    crops = [crop_photo(read_image(p), 48) for p in (HOPPER, PRESENT)]
    assert labeler.writes == ("caption",)
    assert labeler.label(crops) == [{"caption": "a red cube"}] * 2


def _miniclip_export(tmp_path):
    """The shipped MiniCLIP image tower exported as a ``clip`` feature program (the adapter's contract)."""
    from omnimask.data.labelers.registry import load_labeler

    miniclip = load_labeler("miniclip")

    class Tower(torch.nn.Module):
        def __init__(self, model):
            super().__init__()
            self.model = model

        def forward(self, x):
            tokens = self.model.image_grid_tokens(x)
            return tokens.flatten(1, 2), self.model.image_proj(tokens.mean(dim=(1, 2)))

    model = miniclip.model
    folder = _export(Tower(model), tmp_path / "clip", torch.zeros(2, 3, 64, 64),
                     mean=model.pixel_mean.flatten().tolist(), std=model.pixel_std.flatten().tolist())
    return miniclip, folder


def test_feature_adapters_run_an_exported_network_like_the_network_itself(tmp_path):
    from omnimask.data.labelers.base import FeatureLabeler
    from omnimask.data.labelers.registry import load_labeler

    with pytest.raises(ConfigError, match=r"model\.pt2"):
        load_labeler("dinov2")
    miniclip, folder = _miniclip_export(tmp_path)
    rgb = np.stack([crop_photo(read_image(p), 64).rgb for p in (HOPPER, PRESENT)])
    clip, dinov2 = load_labeler("clip", folder), load_labeler("dinov2", folder)
    assert isinstance(clip, FeatureLabeler) and (clip.feature_dim, clip.embedding_dim) == (
        miniclip.feature_dim, miniclip.embedding_dim)
    patches, embedding = miniclip.features(rgb)
    assert torch.allclose(clip.patch_features(rgb), patches, atol=1e-5)
    assert torch.allclose(clip.global_embedding(rgb), embedding, atol=1e-5)  # CLIP: unit-normalised
    raw = dinov2.global_embedding(rgb)  # DINOv2: the embedding as the network gives it
    assert not torch.allclose(raw.norm(dim=-1), torch.ones(2)) and torch.allclose(
        torch.nn.functional.normalize(raw, dim=-1), embedding, atol=1e-5)


def test_pretokenize_takes_a_feature_labeler_by_name(tmp_path, capsys):
    from omnimask.cli import main

    _, folder = _miniclip_export(tmp_path)
    ds = tmp_path / "ds"
    assert main(["synth", "--out", str(ds), "--num", "3", "--quiet"]) == 0
    args = ["--modalities", "tok_clip@64,tok_clip_global", "--splits", "train", "--quiet"]
    assert main(["pretokenize", str(ds), "--out", str(tmp_path / "a"), *args]) == 0
    assert main(["pretokenize", str(ds), "--out", str(tmp_path / "b"), "--feature-labeler", f"clip={folder}",
                 *args]) == 0
    for name in ("tok_clip@64", "tok_clip_global"):
        a, b = (np.load(tmp_path / s / "train" / f"{name}.npy") for s in "ab")
        assert np.array_equal(a, b), name
    assert main(["pretokenize", str(ds), "--out", str(tmp_path / "c"), "--feature-labeler", "canny", *args]) == 2
    assert "--feature-labeler canny: a photo labeler" in capsys.readouterr().err
