"""Evaluation of 4M models: task metrics, trivial baselines, the harness and the report (``omnimask eval``).

Typical use::

    from omnimask.evaluation import evaluate
    report = evaluate("runs/synth_tiny/checkpoint", "synth:seed=1,num=100", tasks="depth,semseg,caption")
    print(report.markdown())
    report.save("out/eval")   # eval.json, eval.md, eval.png

Modules: ``metrics`` (depth, normals, segmentation, detection, captions, retrieval), ``baselines``,
``tasks`` (the task table), ``predict`` (a model under test), ``data`` (evaluation scenes),
``harness`` (:func:`evaluate`), ``report`` and ``figure``.
"""

from omnimask.evaluation.data import DataSpec, load_scenes, parse_data_spec
from omnimask.evaluation.harness import evaluate, run_task
from omnimask.evaluation.predict import Predictor, Ref, Unavailable
from omnimask.evaluation.report import COLUMNS, Report, Row, TaskResult
from omnimask.evaluation.tasks import GROUPS, TASKS, Task, select_tasks

__all__ = [
    "COLUMNS",
    "GROUPS",
    "TASKS",
    "DataSpec",
    "Predictor",
    "Ref",
    "Report",
    "Row",
    "Task",
    "TaskResult",
    "Unavailable",
    "evaluate",
    "load_scenes",
    "parse_data_spec",
    "run_task",
    "select_tasks",
]
