"""MetricsLog: a resumed run's TensorBoard events show each step once, like its metrics.jsonl."""

import pytest

from omnimask.training.metrics import MetricsLog, drop_after, read_metrics


def test_a_resumed_run_shows_each_step_once_in_tensorboard_and_jsonl(tmp_path):
    accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
    first = MetricsLog(tmp_path)
    for step in range(1, 6):  # the killed run logged steps 1-5; its last checkpoint was step 3
        first.write({"step": step, "split": "train", "loss": float(step)})
    first.close()
    drop_after(tmp_path / "metrics.jsonl", 3)
    resumed = MetricsLog(tmp_path, resumed_at=3)
    for step in (4, 5):  # trained again after the resume, with other values
        resumed.write({"step": step, "split": "train", "loss": 10.0 * step})
    resumed.close()
    events = accumulator.EventAccumulator(str(tmp_path / "tensorboard"))
    events.Reload()
    shown = [(e.step, e.value) for e in events.Scalars("train/loss")]
    assert shown == [(1, 1.0), (2, 2.0), (3, 3.0), (4, 40.0), (5, 50.0)]
    assert [(r["step"], r["loss"]) for r in read_metrics(tmp_path / "metrics.jsonl")] == shown
