"""Loss curves of a training run as a PNG (``loss_curves.png`` beside ``metrics.jsonl``).

Two panels over training tokens: the total loss (training records, smoothed, and validation), and the
validation loss of every modality, so one glance shows whether a run converged and which modalities
lag. Drawn with matplotlib (the ``viz`` extra); :func:`write_loss_curves` says how to install it when
it is missing instead of failing a finished run.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import numpy as np

from omnimask.config import ConfigError, read_json
from omnimask.files import CONFIG_NAME
from omnimask.training.metrics import METRICS_NAME, read_metrics

CURVES_FILE = "loss_curves.png"


def smooth(values: Sequence[float] | np.ndarray, window: int) -> np.ndarray:
    """Trailing moving average of ``values`` over up to ``window`` points (same length as the input)."""
    x = np.asarray(values, dtype=np.float64)
    if window <= 1 or len(x) == 0:
        return x
    csum = np.cumsum(np.insert(x, 0, 0.0))
    lo = np.maximum(np.arange(1, len(x) + 1) - window, 0)
    return (csum[1:] - csum[lo]) / (np.arange(1, len(x) + 1) - lo)


def _series(records: Sequence[dict[str, Any]], split: str, key: str) -> tuple[np.ndarray, np.ndarray]:
    """(steps, values) of ``key`` over the records of ``split`` that have a finite value for it."""
    rows = [(r["step"], r[key]) for r in records if r.get("split") == split and isinstance(r.get(key), (int, float))]
    steps, values = zip(*rows, strict=True) if rows else ((), ())
    return np.asarray(steps, dtype=np.int64), np.asarray(values, dtype=np.float64)


def plot_loss_curves(records: Sequence[dict[str, Any]], path: str | Path, title: str = "") -> Path:
    """Draw the two-panel loss figure of ``records`` (``metrics.jsonl`` rows) into the PNG ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap

    fig, (total, per_mod) = plt.subplots(1, 2, figsize=(12, 4.5), dpi=110)
    steps, train = _series(records, "train", "loss")
    if len(steps):
        total.plot(steps, train, color="#bbbbbb", lw=0.8, label="train")
        total.plot(steps, smooth(train, 10), color="#1f77b4", lw=1.6, label="train (mean of 10 logs)")
    vsteps, val = _series(records, "val", "loss")
    if len(vsteps):
        total.plot(vsteps, val, "o-", color="#d62728", lw=1.6, ms=4, label="validation")
    total.set(xlabel="step", ylabel="loss", title="total loss")
    total.legend()
    total.grid(alpha=0.3)
    keys = sorted({k for r in records if r.get("split") == "val" for k in r if k.startswith("loss/")})
    tab20 = plt.get_cmap("tab20")  # 20 distinct colours: 4M-21 has more than 10 modalities
    assert isinstance(tab20, ListedColormap)
    colours = cast(Sequence[tuple[float, float, float]], tab20.colors)  # tab20 lists its colours as RGB tuples
    for i, key in enumerate(keys):
        s, v = _series(records, "val", key)
        per_mod.plot(s, v, "o-", lw=1.2, ms=3, color=colours[(2 * i) % 20 + (2 * i) // 20 % 2],
                     label=key.removeprefix("loss/"))
    per_mod.set(xlabel="step", ylabel="validation loss", title="validation loss per modality")
    if keys:
        per_mod.legend(fontsize=7, ncol=2)
    per_mod.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path)
    plt.close(fig)
    return path


def run_title(run_dir: Path) -> str:
    """The run folder's name, with the recipe of its ``config.json`` when that says more."""
    try:
        recipe = read_json(run_dir / CONFIG_NAME).get("recipe")
    except (OSError, ConfigError, AttributeError):
        return run_dir.name
    if not isinstance(recipe, str) or recipe in ("", run_dir.name):
        return run_dir.name
    return f"{run_dir.name} (recipe {recipe})"


def write_loss_curves(run_dir: str | Path, out: str | Path | None = None) -> Path | None:
    """Plot ``run_dir/metrics.jsonl`` to ``out`` (default ``run_dir/loss_curves.png``).

    Returns the PNG path, or None (with a message on how to enable it) when matplotlib is missing.
    Raises FileNotFoundError when the run has no ``metrics.jsonl``.
    """
    run_dir = Path(run_dir)
    metrics = run_dir / METRICS_NAME
    if not metrics.is_file():
        raise FileNotFoundError(f"{metrics} does not exist: give the output folder of an `omnimask train` run")
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        print("loss curves skipped: matplotlib is missing (pip install 'omnimask[viz]')")
        return None
    png = plot_loss_curves(read_metrics(metrics), out or run_dir / CURVES_FILE, title=run_title(run_dir))
    print(f"loss curves: {png}")
    return png
