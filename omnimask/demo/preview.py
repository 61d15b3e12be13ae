"""The SynthWorld preview of ``omnimask demo``: a few rendered scenes as ``preview.png`` (every
modality, colourised) and ``summary.txt`` (what is in each scene, and how long rendering took).

It is what the demo shows when no trained model is available (the fallback page), and a quick
look at the data a SynthWorld model learns from.
"""

from __future__ import annotations

import time
from pathlib import Path

from omnimask.config import ConfigError
from omnimask.data.synthworld.config import GENERATOR_VERSION, SynthWorldConfig
from omnimask.data.synthworld.dataset import render_sample
from omnimask.data.synthworld.preview import preview_grid

#: Metadata keys listed in the summary.
SUMMARY_KEYS: tuple[str, ...] = ("brightness", "contrast", "colorfulness", "entropy", "walkability", "objectness",
                                 "occlusion_score", "geometric_complexity")


def describe(sample: dict) -> list[str]:
    """Summary lines of one rendered scene: objects, caption, boxes, metadata, palette."""
    meta = sample["metadata"]
    lines = [f"scene {sample['key']}: {meta['n_coco_instances']} visible object(s)", f"  caption: {sample['caption']}"]
    for d in sample["det"]:
        box = ", ".join(f"{v:.2f}" for v in d["box"])
        lines.append(
            f"  - {d['material']} {d['colour']} {d['class']}: instance {d['instance']}, "
            f"{d['visible_fraction']:.0%} visible, box [{box}]"
        )
    lines.append("  metadata: " + ", ".join(f"{k} {meta[k]:.3g}" for k in SUMMARY_KEYS))
    lines.append("  palette: " + " ".join("#{:02x}{:02x}{:02x}".format(*c) for c in sample["color_palette"]["colors"]))
    return lines


def write_preview(out: str | Path, num: int = 4, seed: int = 0, resolution: int = 64) -> dict[str, Path]:
    """Render ``num`` scenes of world ``seed``; write ``preview.png`` and ``summary.txt`` into ``out``.

    Returns the paths written, keyed ``preview`` and ``summary``.
    """
    if num < 1:
        raise ConfigError(f"--num {num}: the demo needs at least one scene")
    cfg = SynthWorldConfig(resolution=resolution)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    samples = [render_sample(seed, i, cfg) for i in range(num)]
    elapsed = time.perf_counter() - start
    paths = {"preview": out / "preview.png", "summary": out / "summary.txt"}
    preview_grid(samples, cell=max(160, resolution)).save(paths["preview"])
    lines = [
        f"omnimask demo: SynthWorld ({GENERATOR_VERSION}), seed {seed}, {num} scenes at {resolution}x{resolution}",
        f"rendered in {elapsed:.2f} s ({num / elapsed:.1f} scenes/s on one process); preview: {paths['preview']}",
        "",
    ]
    for sample in samples:
        lines += [*describe(sample), ""]
    paths["summary"].write_text("\n".join(lines))
    return paths
