"""Building the demo page: load a SynthWorld model folder, make every figure (timed), save the PNGs
and write ``index.html`` — or, when no model is there, the SynthWorld preview with a page saying so
and how to get a model.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

from omnimask.demo.context import DemoContext, Figure
from omnimask.demo.figures import FIGURES
from omnimask.demo.model import DemoModel
from omnimask.demo.page import write_page
from omnimask.demo.preview import write_preview
from omnimask.loading import is_model_folder, shipped_model_path

TITLE = "omnimask demo — 4M on SynthWorld"


@dataclasses.dataclass
class DemoResult:
    """What :func:`build_demo` wrote.

    Attributes:
        index: the page.
        figures: every figure, made or skipped, in page order.
        pictures: the PNG files written.
        seconds: total wall time.
        model: the model folder used (None: no model, the fallback page).
    """

    index: Path
    figures: list[Figure]
    pictures: list[Path]
    seconds: float
    model: Path | None


def no_model_message(looked_at: Path) -> str:
    """What to do when there is no model folder at ``looked_at``."""
    return (f"No shipped model was found at {looked_at}, so this page shows SynthWorld scenes only. "
            "Train one with `omnimask train --recipe synth_small --out runs/synth_small`, then run "
            "`omnimask demo --model runs/synth_small/checkpoint`; any SynthWorld model folder "
            "(model.safetensors, config.json, tokenizers/) works with --model DIR.")


def fallback_demo(out: str | Path, looked_at: Path, *, seed: int = 0, num: int = 3, resolution: int = 64,
                  log: Callable[[str], None] = print) -> DemoResult:
    """The page without a model: the SynthWorld preview and summary, and a note on getting a model."""
    start = time.perf_counter()
    message = no_model_message(looked_at)
    log(f"demo: {message}")
    paths = write_preview(out, num=num, seed=seed, resolution=resolution)
    index = write_page(out, TITLE, [f"SynthWorld world {seed}, {num} scenes at {resolution}×{resolution}; "
                                    f"scene summary: {paths['summary'].name}"],
                       [], banner=message,
                       extra=[(paths["preview"].name, "SynthWorld preview",
                               "Every modality SynthWorld renders, one scene per row: RGB, boxes, depth, normals, "
                               "semantic classes, instances, occlusion edges; caption, colour palette and metadata "
                               "beneath.")])
    return DemoResult(index, [], [paths["preview"]], time.perf_counter() - start, None)


def build_demo(out: str | Path, model: str | Path | None = None, *, seed: int = 0, num: int = 3, cell: int = 128,
               only: Sequence[str] | None = None, resolution: int = 64,
               log: Callable[[str], None] = print) -> DemoResult:
    """Make the demo page in ``out`` from the model folder ``model`` (default: the shipped one).

    Args:
        out: output folder (created).
        model: a SynthWorld model folder; None uses :func:`~omnimask.loading.shipped_model_path`
            and falls back to :func:`fallback_demo` when it does not exist.
        seed: world seed of the scenes and seed of every generation.
        num: scenes / captions per figure.
        cell: picture size in the figures.
        only: figure slugs (or their leading numbers) to make; default all.
        resolution: image side of the fallback's SynthWorld preview.
        log: where progress lines go.

    Raises:
        FileNotFoundError: ``model`` was given and is not a model folder.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    folder = Path(model) if model is not None else shipped_model_path()
    if not is_model_folder(folder):
        if model is not None:
            raise FileNotFoundError(f"--model {folder}: not a model folder (needs model.safetensors and config.json; "
                                    "train one with `omnimask train --recipe synth_small`)")
        return fallback_demo(out, folder, seed=seed, num=num, resolution=resolution, log=log)
    start = time.perf_counter()
    dm = DemoModel.load(folder)
    params = sum(p.numel() for p in dm.model.parameters())
    log(f"demo: model {folder} ({params / 1e6:.2f} M parameters, {len(dm.specs)} modalities, "
        f"{len(dm.tokenizers)} tokenizers) loaded in {time.perf_counter() - start:.1f} s")
    ctx = DemoContext(dm, seed=seed, num=num, cell=cell)
    chosen = [m for m in FIGURES if not only or any(s == m.SLUG or m.SLUG.split("_")[0] == s for s in only)]
    figures, pictures = [], []
    for module in chosen:
        began = time.perf_counter()
        with torch.inference_mode():
            fig = module.make(ctx)
        fig.seconds = time.perf_counter() - began
        if fig.image is not None:
            pictures.append(out / f"{fig.slug}.png")
            fig.image.save(pictures[-1])
        figures.append(fig)
        log(f"demo: {fig.slug:<22} {fig.seconds:6.1f} s  " + (fig.note if fig.skipped else pictures[-1].name))
    total = time.perf_counter() - start
    lead = [f"Model: {folder} — {params / 1e6:.2f} M parameters; inputs: {', '.join(dm.model.input_modalities)}; "
            f"outputs: {', '.join(dm.model.output_modalities)}; tokenizers for: {', '.join(dm.tokenizers) or 'none'}.",
            f"Scenes: held-out SynthWorld scenes of world {seed} (index {ctx.scene(0)['index']} on), rendered at "
            f"{dm.resolution}×{dm.resolution}; every generation uses seed {seed}. Built in {total:.1f} s "
            f"with {torch.get_num_threads()} thread(s)."]
    index = write_page(out, TITLE, lead, figures)
    log(f"demo: {len(pictures)} figures, {len(figures) - len(pictures)} skipped, {total:.1f} s; page {index}")
    return DemoResult(index, figures, pictures, total, folder)
