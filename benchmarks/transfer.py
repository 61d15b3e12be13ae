"""Transfer: the shipped ``synth_small`` fine-tuned to tasks pre-training never saw, against scratch.

For each SynthWorld transfer task (:data:`omnimask.data.synthworld.transfer.TRANSFER_TASKS`) the
pretrained model is fine-tuned with ``full``, ``linear`` and ``lora`` (``omnimask finetune``), and the
same architecture is trained from random initialisation (``scratch``) — same steps, same batches,
same data: ``--num-train`` scenes of another SynthWorld world than pre-training's, evaluated on
``--num-val`` further unseen scenes of it. On the dense task ``height`` the pretrained model is also
fine-tuned with RGB + depth inputs (4M's multimodal transfer) against RGB only.

Printed per run: steps, wall time, the task metric at the end, and "x scratch": how many times fewer
samples the run needed to reach scratch's final metric (evaluated every tenth of the run; ``>= N``
when it was already there at the first evaluation, ``-`` when it never got there). Curves go to
``<out>/transfer.png`` and the numbers to ``<out>/transfer.json``.

Run from the repository root: ``python -m benchmarks.transfer [--steps 300] [--threads 1]`` (about 25
minutes on one core). A longer setting: ``--steps 1500 --num-train 10000``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import torch

from omnimask.data.config import DataConfig
from omnimask.data.sources import synth_stores
from omnimask.data.synthworld.transfer import TRANSFER_TASKS
from omnimask.generation.pipeline import resolve_name
from omnimask.loading import shipped_model_path
from omnimask.model.heads import HEADS
from omnimask.recipes.finetune import FINETUNE_WORLD_SEED, finetune_config, pretrained_config
from omnimask.tokenizers.bundle import shipped_bundle_path
from omnimask.training.loop import train
from omnimask.training.metrics import read_metrics

METHODS = ("full", "linear", "lora", "scratch")
DENSE_TASK = "height"
MULTIMODAL = ("rgb", "depth")


@dataclasses.dataclass
class Run:
    """One fine-tuning run's outcome: its metric curve over samples seen."""

    task: str
    method: str
    inputs: tuple[str, ...]
    steps: int
    wall_s: float
    samples: list[int]
    curve: list[float]

    @property
    def final(self) -> float:
        return self.curve[-1]


def shared_store(out: Path, num_train: int, num_val: int) -> Path:
    """RGB and depth tokens of the fine-tuning scenes plus every task's labels, built once for all runs."""
    model = pretrained_config(shipped_model_path())
    known = model.specs()
    specs = {name: known[name] for name in (resolve_name(n, list(known)) for n in MULTIMODAL)}
    resolution = next(iter(specs.values())).image_size[0]  # type: ignore[index]
    data = DataConfig(source="synth", resolution=resolution, num_train=num_train, num_val=num_val,
                      synth_seed=FINETUNE_WORLD_SEED, tokenizers=str(shipped_bundle_path(f"synthworld{resolution}")),
                      task=DENSE_TASK)
    synth_stores(data, specs, out / "data")
    return out / "data"


def run_one(store: Path, out: Path, task: str, method: str, inputs: tuple[str, ...], steps: int, num_val: int) -> Run:
    scratch = method == "scratch"
    data = DataConfig(source="store", path=str(store), task=task)
    cfg = finetune_config(shipped_model_path(), task, out / f"{task}-{method}-{'+'.join(inputs)}",
                          method="full" if scratch else method, inputs=inputs, scratch=scratch, steps=steps,
                          num_val=num_val, data=data)
    cfg = dataclasses.replace(cfg, eval_every=max(1, steps // 10), save_every=0, progress=False, log_every=steps)
    start = time.perf_counter()
    trainer = train(cfg)
    wall = time.perf_counter() - start
    metric = f"metric/{HEADS[TRANSFER_TASKS[task].kind].metric}"
    rows = [r for r in read_metrics(trainer.out_dir / "metrics.jsonl") if r["split"] == "val"]
    return Run(task, method, inputs, steps, wall, [r["step"] * cfg.batch_size for r in rows], [r[metric] for r in rows])


def samples_ratio(run: Run, scratch: Run, higher_is_better: bool) -> str:
    """Scratch's samples over the samples ``run`` needed to reach scratch's final metric."""
    for samples, value in zip(run.samples, run.curve):
        if (value >= scratch.final) if higher_is_better else (value <= scratch.final):
            ratio = scratch.samples[-1] / samples
            return f">= {ratio:.0f}" if samples == run.samples[0] else f"{ratio:.1f}"
    return "-"


def report(runs: list[Run]) -> list[str]:
    lines = ["| task | metric | method | inputs | steps | wall s | final | x scratch |",
             "|---|---|---|---|---:|---:|---:|---:|"]
    for task in dict.fromkeys(r.task for r in runs):
        head = HEADS[TRANSFER_TASKS[task].kind]
        arrow = "↑" if head.higher_is_better else "↓"
        scratch = next(r for r in runs if r.task == task and r.method == "scratch")
        for r in (r for r in runs if r.task == task):
            ratio = "1" if r is scratch else samples_ratio(r, scratch, head.higher_is_better)
            lines.append(f"| {task} | {head.metric} {arrow} | {r.method} | {'+'.join(r.inputs)} | {r.steps} | "
                         f"{r.wall_s:.0f} | {r.final:.3f} | {ratio} |")
    return lines


def plot(runs: list[Run], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = list(dict.fromkeys(r.task for r in runs))
    fig, axes = plt.subplots(1, len(tasks), figsize=(4 * len(tasks), 3.4), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        for r in (r for r in runs if r.task == task):
            style = "--" if r.method == "scratch" else "-"
            ax.plot(r.samples, r.curve, style, marker=".", label=f"{r.method} {'+'.join(r.inputs)}")
        ax.set_title(task)
        ax.set_xlabel("samples seen")
        ax.set_ylabel(HEADS[TRANSFER_TASKS[task].kind].metric)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--num-train", type=int, default=2000)
    parser.add_argument("--num-val", type=int, default=256)
    parser.add_argument("--tasks", default=",".join(TRANSFER_TASKS), help="comma-separated transfer tasks")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default="/tmp/omnimask-transfer-bench", help="run folders (outside the repository)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    start = time.perf_counter()
    store = shared_store(out, args.num_train, args.num_val)
    runs = []
    for task in args.tasks.split(","):
        for method in args.methods.split(","):
            runs.append(run_one(store, out, task, method, ("rgb",), args.steps, args.num_val))
        if task == DENSE_TASK:
            runs.append(run_one(store, out, task, "full", MULTIMODAL, args.steps, args.num_val))
    lines = report(runs)
    print("\n".join(lines))
    (out / "transfer.json").write_text(json.dumps([dataclasses.asdict(r) for r in runs], indent=1))
    plot(runs, out / "transfer.png")
    print(f"\ntotal {time.perf_counter() - start:.0f} s, {args.threads} thread(s); curves: {out / 'transfer.png'}")


if __name__ == "__main__":
    main()
