"""``omnimask demo``: the main job on the embedded default, in a few seconds on a laptop CPU.

Today it renders a handful of SynthWorld scenes and writes ``preview.png`` (every modality,
colourised) and ``summary.txt`` (what is in each scene, and how long rendering took) into ``--out``.
Later versions also load the shipped tiny model and generate.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``demo`` subcommand."""
    p = subparsers.add_parser(
        "demo",
        help="render a few SynthWorld scenes and write a preview and a summary",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--out", default="out/demo", help="output folder (default out/demo)")
    p.add_argument("--num", type=int, default=4, help="scenes to render (default 4)")
    p.add_argument("--seed", type=int, default=0, help="world seed (default 0)")
    p.add_argument("--resolution", type=int, default=64, help="image side in pixels (default 64)")
    p.set_defaults(func=run)


def _describe(sample: dict) -> list[str]:
    meta = sample["metadata"]
    lines = [f"scene {sample['key']}: {meta['n_coco_instances']} visible object(s)", f"  caption: {sample['caption']}"]
    for d in sample["det"]:
        box = ", ".join(f"{v:.2f}" for v in d["box"])
        lines.append(
            f"  - {d['material']} {d['colour']} {d['class']}: instance {d['instance']}, "
            f"{d['visible_fraction']:.0%} visible, box [{box}]"
        )
    lines.append(
        "  metadata: "
        + ", ".join(
            f"{k} {meta[k]:.3g}"
            for k in (
                "brightness",
                "contrast",
                "colorfulness",
                "entropy",
                "walkability",
                "objectness",
                "occlusion_score",
                "geometric_complexity",
            )
        )
    )
    lines.append("  palette: " + " ".join("#{:02x}{:02x}{:02x}".format(*c) for c in sample["color_palette"]["colors"]))
    return lines


def run_demo(out: str | Path, num: int = 4, seed: int = 0, resolution: int = 64) -> dict[str, Path]:
    """Render ``num`` scenes of world ``seed``; write ``preview.png`` and ``summary.txt`` into ``out``.

    Returns the paths written, keyed ``preview`` and ``summary``.
    """
    import time

    from omnimask.config import ConfigError
    from omnimask.data.synthworld.config import GENERATOR_VERSION, SynthWorldConfig
    from omnimask.data.synthworld.dataset import render_sample
    from omnimask.data.synthworld.preview import preview_grid

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
        lines += [*_describe(sample), ""]
    paths["summary"].write_text("\n".join(lines))
    return paths


def run(args: argparse.Namespace) -> int:
    """Execute ``omnimask demo`` with parsed arguments; returns the exit code."""
    paths = run_demo(args.out, num=args.num, seed=args.seed, resolution=args.resolution)
    print(f"demo: preview written to {paths['preview']}")
    print(f"demo: summary written to {paths['summary']}")
    return 0
