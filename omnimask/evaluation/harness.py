"""``evaluate``: run the evaluation tasks on a model and put every number of the table in one Report.

For each task (:mod:`omnimask.evaluation.tasks`) and the same scenes, five columns are measured in
one run:

* ``model`` — the evaluated model's prediction (generation from the task's conditions);
* ``ceiling`` — the model's own tokenizer applied to the ground truth (tokenize → detokenize): the
  best a token-based prediction can score;
* ``baseline`` — a trivial prediction that ignores the input (:mod:`omnimask.evaluation.baselines`);
* ``specialist`` — a single-task model of the same size trained on that task alone
  (``omnimask train --recipe synth_specialist:TASK``), when one is given;
* ``truth`` — the ground truth scored against itself: the metric's own ceiling (1 for most; the real
  images' score for caption → RGB).

A column that cannot be measured (the model lacks a modality, no tokenizer, no labeler) holds None
and a note saying why; nothing about a missing modality raises.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from omnimask.evaluation.data import DataSpec, load_scenes, parse_data_spec
from omnimask.evaluation.predict import GLOBAL, Predictor, Unavailable
from omnimask.evaluation.report import COLUMNS, NOT_GIVEN, Example, Report, TaskResult
from omnimask.evaluation.tasks import GROUPS, Task, select_tasks
from omnimask.progress import tqdm


def load_labeler_or_reason(labeler: Any, path: str | Path | None) -> tuple[Any | None, str]:
    """The image–text labeler (a name, or an object used as is) or None and why it is missing."""
    if labeler is None:
        return None, "no image–text labeler given (--labeler)"
    if not isinstance(labeler, str):
        return labeler, ""
    from omnimask.data.labelers.registry import load_labeler

    try:
        loaded = load_labeler(labeler, path)
    except (FileNotFoundError, KeyError) as err:
        return None, f"labeler {labeler!r} could not be loaded: {err}"
    if not hasattr(loaded, "encode_text"):
        return None, f"labeler {labeler!r} has no text encoder (encode_text)"
    return loaded, ""


def add_global_embeddings(scenes: Sequence[dict[str, Any]], labeler: Any, batch_size: int = 64) -> None:
    """Write the labeler's global embedding of each scene's RGB under its ``global`` key (in place)."""
    for start in range(0, len(scenes), batch_size):
        chunk = scenes[start : start + batch_size]
        emb = torch.as_tensor(labeler.global_embedding(np.stack([s["rgb"] for s in chunk]))).float().numpy()
        for scene, e in zip(chunk, emb):
            scene[GLOBAL.sample_key] = e


def _model_predictions(task: Task, predictor: Predictor, scenes: Sequence[Mapping[str, Any]], seed: int) -> list[Any]:
    preds = predictor.predict(scenes, task.inputs, task.target, task.plan, seed)
    if task.gallery is None:
        return preds
    gallery = predictor.predict(scenes, (task.gallery,), task.target, task.plan, seed)
    return list(zip(preds, gallery))


def run_task(task: Task, scenes: Sequence[Mapping[str, Any]], predictor: Predictor, *,
             specialist: Predictor | None = None, labeler: Any = None, labeler_note: str = "", seed: int = 0,
             examples: int = 3) -> TaskResult:
    """Every column of one task (see the module docstring)."""
    start = time.perf_counter()
    values: dict[str, dict[str, Any] | None] = {c: None for c in COLUMNS}
    notes: dict[str, str] = {}
    shown: dict[str, list[Any]] = {}
    if task.needs_labeler and labeler is None:
        notes = {c: f"{task.title} needs an image–text labeler: {labeler_note}" for c in COLUMNS}
        return TaskResult(task.name, task.title, values, notes, time.perf_counter() - start)
    truths = [task.truth(s) for s in scenes]
    refs = task.references(scenes)
    producers = {  # the cheap columns first
        "truth": lambda: truths,
        "ceiling": lambda: predictor.reconstruct(task.target, truths),
        "baseline": lambda: task.baseline(refs if task.baseline_on_reference else truths),
        "model": lambda: _model_predictions(task, predictor, scenes, seed),
    }
    if specialist is not None:
        producers["specialist"] = lambda: _model_predictions(task, specialist, scenes, seed)
    else:
        notes["specialist"] = NOT_GIVEN
    for column, produce in producers.items():
        try:
            preds = produce()
        except Unavailable as err:
            notes[column] = str(err)
            continue
        metric = task.metric(labeler)
        metric.update(preds, refs)
        values[column] = metric.compute()
        shown[column] = list(preds[:examples])
    inputs = {r.describe(): [s[r.sample_key] for s in scenes[:examples]] for r in task.inputs}
    picks = [Example(inputs={k: v[i] for k, v in inputs.items()}, outputs={c: p[i] for c, p in shown.items()})
             for i in range(min(examples, len(scenes)))]
    return TaskResult(task.name, task.title, values, notes, time.perf_counter() - start, picks)


def specialists_by_task(specialists: Mapping[str, str | Path], chosen: Sequence[str]) -> dict[str, str | Path]:
    """Task name → specialist folder, for the ``chosen`` tasks.

    A key may name a task or a group (:data:`~omnimask.evaluation.tasks.GROUPS`): ``retrieval=DIR`` gives
    every chosen retrieval task the one specialist trained with ``--recipe synth_specialist:retrieval``.
    A task given twice, or a key matching no chosen task, is an error.
    """
    by_task: dict[str, str | Path] = {}
    for key, directory in specialists.items():
        names = [n for n in GROUPS.get(key, (key,)) if n in chosen]
        if not names:
            raise KeyError(f"a specialist is given for {key!r}, which names none of the tasks {list(chosen)}")
        twice = [n for n in names if n in by_task]
        if twice:
            raise KeyError(f"tasks {twice} are given two specialists ({key!r} and an earlier key)")
        by_task.update(dict.fromkeys(names, directory))
    return by_task


def evaluate(model_dir: str | Path | None = None, data: str | DataSpec = "synth:seed=1,num=100", num: int | None = None,
             seed: int = 0, tasks: str | Sequence[str] | None = None,
             specialists: Mapping[str, str | Path] | None = None, *, batch_size: int = 32, examples: int = 3,
             labeler: Any = "miniclip", labeler_path: str | Path | None = None, global_modality: str | None = None,
             device: str = "cpu", split: str = "test", progress: bool = True, precision: str = "auto") -> Report:
    """Evaluate the model in ``model_dir`` on ``data`` (see :mod:`omnimask.evaluation.data`).

    Args:
        model_dir: a model folder (``model.safetensors`` + ``config.json`` + ``tokenizers/``); None: the
            model shipped in the package.
        data: ``synth:seed=S,num=N`` or a dataset folder (or a parsed :class:`DataSpec`).
        num: number of scenes (overrides the spec's).
        seed: generation seed (batch starting at scene i uses ``seed + i``).
        tasks: task or group names (:data:`~omnimask.evaluation.tasks.TASKS`, ``GROUPS``); None = all.
        specialists: task (or group) name → folder of a single-task specialist model
            (:func:`specialists_by_task`).
        batch_size: scenes per generation call.
        examples: scenes per task kept for the figure.
        labeler: the image–text labeler for retrieval and caption → RGB: a registered name
            (``miniclip``), an object with ``global_embedding`` / ``encode_text``, or None.
        labeler_path: weights folder of a named labeler (None: its default).
        global_modality: the model's ``global_tokens`` modality used for retrieval (default: the first).
        device: torch device of the models.
        split: split of a dataset folder.
        progress: progress bars.
        precision: ``fp32``, ``bf16`` or ``auto`` (:mod:`omnimask.precision`) for every model's generations.
    """
    started = time.perf_counter()
    chosen = select_tasks(tasks)
    specialist_dirs = specialists_by_task(specialists or {}, [t.name for t in chosen])
    common = {"global_modality": global_modality, "batch_size": batch_size, "progress": progress,
              "precision": precision}
    predictor = Predictor.load(model_dir, device=device, **common)
    pixel_sizes = [s.image_size for s in predictor.specs.values() if s.is_pixels and s.image_size]
    spec = parse_data_spec(data, split=split) if isinstance(data, str) else data
    scenes, spec = load_scenes(spec, num, pixel_sizes[0][0] if pixel_sizes else None, progress)
    the_labeler, labeler_note = (None, "") if not any(t.needs_labeler for t in chosen) else \
        load_labeler_or_reason(labeler, labeler_path)
    if the_labeler is not None and any(t.target == GLOBAL for t in chosen):
        add_global_embeddings(scenes, the_labeler)
    folders = dict.fromkeys(map(str, specialist_dirs.values()))  # one model per folder, however many tasks it serves
    loaded = {directory: Predictor.load(directory, device=device, **common) for directory in folders}
    specialist_models = {name: loaded[str(directory)] for name, directory in specialist_dirs.items()}
    results = [
        run_task(t, scenes, predictor, specialist=specialist_models.get(t.name), labeler=the_labeler,
                 labeler_note=labeler_note, seed=seed, examples=examples)
        for t in tqdm(chosen, desc="tasks", unit="task", disable=not progress)
    ]
    meta = {
        "model": predictor.name,
        "data": spec.describe(),
        "scenes": len(scenes),
        "seed": seed,
        "batch_size": batch_size,
        "tasks": [t.name for t in chosen],
        "specialists": {k: str(v) for k, v in specialist_dirs.items()},
        "labeler": labeler if isinstance(labeler, str) or labeler is None else type(labeler).__name__,
        "seconds": round(time.perf_counter() - started, 1),
    }
    return Report(results, meta)
