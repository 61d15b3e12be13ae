"""omnimask side by side with the official apple/ml-4m code: same model, same weights, same work.

One FourM configuration on both sides — D 256, 4 heads, 6 + 6 blocks, SwiGLU, no biases, the 4M-7
modalities with the released vocabularies — built by the official ``FM`` with its own initialisation
and a fixed seed, saved in the released layout (``model.safetensors`` + ``config.json``) and loaded
into omnimask with :func:`omnimask.compat.load_fm`. Before any timing the two are proven to hold the
same weights: teacher-forced logits of one masked batch must agree within 1e-4 in fp32 (printed).

Measured, in fp32 and in bf16 (official: ``torch.autocast("cpu", bfloat16)``, what its training
scripts use for ``dtype: bfloat16``; omnimask: ``precision="bf16"``), and on request in ``auto``: each
side's default, omnimask's ``precision="auto"`` (bf16 where the CPU is faster at it, for inference decided
per call) against the official code in fp32, which it runs in unless told otherwise:

* training step — forward + loss + backward + gradient clip (norm 1) + AdamW, batch 32 of 128 input
  + 128 target tokens; both sides train on the same batches, masked by the official ``UnifiedMasking``
  with the released ``mix_mod7_all2all_rgb2all_a0.5`` alphas; tokens/s = 32·256 / step time;
* generation, temperature 0, each side's own sampler on the same plan (official ``GenerationSampler``
  with ``build_chained_generation_schedules``; omnimask's :class:`~omnimask.generation.Sampler` with the
  plans of ``benchmarks.generation``): RGB→depth ROAR 1 step, caption→RGB MaskGIT 8 + CFG 3,
  caption→RGB ROAR 25 + CFG 3 (B = 1 and B = 8), RGB→caption autoregressive 256 tokens;
* masking per sample (precision-free, measured once): official ``UnifiedMasking`` against
  :class:`omnimask.masking.Masker`, same raw samples and alphas; text is tokenised beforehand on both
  sides (omnimask's masking takes ids; the official one is fed its own encodings through a lookup);
* and, omnimask alone, the achieved FLOP/s of a 4M-B training step (D 768, 12 heads, 12 + 12 blocks,
  ``--flops-batch`` samples, bf16) against the bf16 matmul roof measured in the same process: the
  forward + backward FLOPs (``torch.utils.flop_counter``) over the whole step's time, optimizer included.

How: the official code runs in its own Python environment as a persistent subprocess
(``benchmarks/official_worker.py``; JSON lines over stdin/stdout; nothing of it is imported here). Per
round and case, omnimask and the official side do the same work one after the other — the order
alternates between rounds — while the other side waits idle on its pipe, so the two never share the
cores. Reported: medians over all rounds; ratio = official time / omnimask time; goals from the issue:
training ≥ 2×, MaskGIT / ROAR with CFG ≥ 2×, autoregressive 256 tokens ≥ 10×, FLOP/s ≥ 50 % of the roof.

Usage::

    .venv/bin/python -m benchmarks.versus_official --official /path/to/ml-4m \\
        --official-python /path/to/ml4m-venv/bin/python [--precisions fp32,bf16] [--rounds 5] \\
        [--only train,gen,masking,flops] [--threads 2] [--json results.json] [--profile DIR]

The official environment (its own venv, never omnimask's): ``torch`` (CPU), ``einops``,
``huggingface_hub==0.24.0``, ``tokenizers``, ``tqdm``, ``numpy``, ``safetensors``, ``pyyaml``,
``opencv-python-headless``, ``albumentations``, ``pillow``; no torchvision (the worker stubs it).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import json
import math
import multiprocessing
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import IO, Any

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from benchmarks.generation import generated_tokens, scenarios
from benchmarks.official_worker import (
    ALPHAS,
    NUM_INPUT_TOKENS,
    NUM_TARGET_TOKENS,
    REQUIRED_FILES,
    TEXT_TOKENIZER,
    profile_table,
)
from benchmarks.train_throughput import matmul_roof
from omnimask.batch import Batch, ModalityBatch
from omnimask.compat import batch_from_reference, load_fm
from omnimask.devices import use_device
from omnimask.generation import Plan, Sampler
from omnimask.masking import Masker, MaskingConfig
from omnimask.modalities import fourm7_modalities
from omnimask.model import FourM, ModelConfig
from omnimask.precision import autocast_context
from omnimask.training.distributed import clip_grad_norm
from omnimask.training.optim import OptimConfig, build_optimizer

WORKER = Path(__file__).with_name("official_worker.py")
#: The 4M-7 outputs; the inputs are these and the RGB pixels.
OUTPUTS_4M7 = ["caption", "det", "tok_rgb@224", "tok_depth@224", "tok_normal@224", "tok_semseg@224", "tok_clip@224"]
#: The official ``FM`` constructor config of the compared model.
MODEL_CONFIG = {
    "domains_in": ["rgb@224", *OUTPUTS_4M7],
    "domains_out": OUTPUTS_4M7,
    "dim": 256,
    "encoder_depth": 6,
    "decoder_depth": 6,
    "num_heads": 4,
    "mlp_ratio": 4.0,
    "qkv_bias": False,
    "proj_bias": False,
    "mlp_bias": False,
    "norm_bias": False,
    "act_layer": "SiLU",
    "gated_mlp": True,
    "image_size": 224,
    "patch_size": 16,
}
MODEL_SEED = 0
BATCH_SIZE = 32
TRAIN_BATCHES = 3
NUM_SAMPLES = 64
IMAGE_POOL = 8
CHECK_ROWS = 4
LOGIT_TOLERANCE = 1e-4
AR_SLOTS = 257  # placeholder slots: position 0 ([S_1]) + 256 generated tokens
LEARNING_RATE = 1e-4
CLIP_GRAD = 1.0
MASK_SAMPLES_PER_RUN = 200
#: Each timed call repeats a case until it lasts about this long (at most MAX_REPEATS runs).
TARGET_CALL_S = 0.5
MAX_REPEATS = 10
GOALS = {"train": 2.0, "guided": 2.0, "autoregressive": 10.0, "flops": 0.5}
#: omnimask's precision -> the official side's (``auto`` is each side's default).
OFFICIAL_PRECISION = {"fp32": "fp32", "bf16": "bf16", "auto": "fp32"}
GENERATION_BATCHES = {"caption->RGB ROAR 25 + CFG 3": (1, 8)}
# fmt: off
WORDS = (
    "a", "the", "red", "blue", "green", "yellow", "small", "large", "old", "young", "dog", "cat", "person",
    "man", "woman", "child", "car", "bus", "bicycle", "table", "chair", "street", "road", "sky", "tree",
    "house", "wall", "window", "door", "on", "next", "to", "in", "front", "of", "behind", "with", "near",
    "sitting", "standing", "walking", "wooden", "brick", "white", "black", "two", "three", "some", "photo",
    "view",
)
# fmt: on
CLASSES = ("person", "dog", "cat", "car", "bicycle", "chair", "bottle", "cup", "bus", "bench")


class BenchmarkError(SystemExit):
    """A setup problem, reported as one message without a traceback."""

    def __init__(self, message: str) -> None:
        super().__init__(f"versus_official: {message}")


# ---------------------------------------------------------------------------------------------
# The official side
# ---------------------------------------------------------------------------------------------
def check_checkout(path: Path) -> None:
    missing = [f for f in REQUIRED_FILES if not (path / f).is_file()]
    if missing:
        raise BenchmarkError(f"--official {path} is not a checkout of apple/ml-4m: it lacks {', '.join(missing)}")


class OfficialWorker:
    """The official code in its own Python, one JSON request and reply at a time."""

    def __init__(self, python: str, checkout: Path, threads: int, log: IO[str]) -> None:
        self.python, self.checkout, self.log = python, checkout, log
        try:
            self.process = subprocess.Popen(
                [python, str(WORKER), "--checkout", str(checkout), "--threads", str(threads)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
                bufsize=1,
            )
        except OSError as error:
            raise BenchmarkError(f"--official-python {python} cannot be started: {error}") from None
        hello = self._read("start")
        if not hello.get("ok"):
            raise BenchmarkError(
                f"{python} cannot import the official code from {checkout}:\n{hello['error']}{self.stderr_tail()}"
            )

    def stderr_tail(self, lines: int = 40) -> str:
        self.log.flush()
        self.log.seek(0)
        tail = self.log.read().splitlines()[-lines:]
        return "\n--- official worker stderr (last lines) ---\n" + "\n".join(tail) if tail else ""

    def _read(self, what: str) -> dict:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            code = self.process.wait()
            raise BenchmarkError(
                f"the official worker ({self.python}) exited with status {code} during {what!r}{self.stderr_tail()}"
            )
        return json.loads(line)

    def request(self, cmd: str, **fields: Any) -> dict:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps({"cmd": cmd, **fields}) + "\n")
        self.process.stdin.flush()
        reply = self._read(cmd)
        if not reply.get("ok"):
            raise BenchmarkError(f"the official worker failed on {cmd!r}:\n{reply['error']}")
        return reply

    def close(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(OSError, BenchmarkError):
                self.request("quit")
            self.process.wait(timeout=30)


# ---------------------------------------------------------------------------------------------
# Data shared by both sides
# ---------------------------------------------------------------------------------------------
def caption_text(rng: np.random.Generator) -> str:
    return " ".join(rng.choice(WORDS, size=int(rng.integers(6, 20))))


def detection_text(rng: np.random.Generator) -> str:
    """Boxes serialised as the official detection transform writes them (``v0=xmin v1=ymin v2=… v3=… class``)."""
    boxes = []
    for _ in range(int(rng.integers(2, 9))):
        x0, y0 = (int(v) for v in rng.integers(0, 800, 2))
        x1, y1 = x0 + int(rng.integers(20, 199)), y0 + int(rng.integers(20, 199))
        boxes.append(f"v0={x0} v1={y0} v2={x1} v3={y1} {rng.choice(CLASSES)}")
    return " ".join(boxes)


def write_samples(directory: Path, checkout: Path) -> tuple[Path, list[dict[str, Any]]]:
    """Raw 4M-7 samples written for the official side (pixels, token grids, strings); the same samples
    as omnimask's masking takes them (text as ids of the official tokenizer, without ``[EOS]``)."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(checkout / TEXT_TOKENIZER))
    rng = np.random.default_rng(0)
    arrays: dict[str, Any] = {"rgb@224": rng.standard_normal((IMAGE_POOL, 3, 224, 224)).astype(np.float32)}
    for name, vocab in (
        ("tok_rgb@224", 16384),
        ("tok_depth@224", 8192),
        ("tok_normal@224", 8192),
        ("tok_semseg@224", 4096),
        ("tok_clip@224", 8192),
    ):
        arrays[name] = rng.integers(0, vocab, (NUM_SAMPLES, 196))
    texts = {
        "caption": [caption_text(rng) for _ in range(NUM_SAMPLES)],
        "det": [detection_text(rng) for _ in range(NUM_SAMPLES)],
    }
    path = directory / "samples.npz"
    np.savez(path, **arrays)
    path.with_suffix(".json").write_text(json.dumps(texts))
    samples = []
    for i in range(NUM_SAMPLES):
        sample: dict[str, Any] = {k: v[i % IMAGE_POOL] if k == "rgb@224" else v[i] for k, v in arrays.items()}
        for key, strings in texts.items():
            sample[key] = np.array(tokenizer.encode(strings[i]).ids, dtype=np.int64)
        samples.append(sample)
    return path, samples


def read_batches(path: Path) -> list[Batch]:
    """The official masked batches (``<b>.<modality>.<field>`` arrays) as omnimask batches."""
    arrays = np.load(path)
    dicts: dict[int, dict[str, dict[str, np.ndarray]]] = {}
    for key in arrays.files:
        b, rest = key.split(".", 1)
        modality, field = rest.rsplit(".", 1)
        dicts.setdefault(int(b), {}).setdefault(modality, {})[field] = arrays[key]
    return [batch_from_reference(dicts[b]) for b in sorted(dicts)]


def first_rows(batch: Batch, rows: int) -> Batch:
    return {m: ModalityBatch(mb.tensor[:rows], mb.input_keep[:rows], mb.target_keep[:rows]) for m, mb in batch.items()}


def expanded(conditions: Batch, batch: int) -> Batch:
    """A B = 1 batch repeated to ``batch`` rows."""

    def rows(t: torch.Tensor) -> torch.Tensor:
        return t.expand(batch, *t.shape[1:]).clone()

    return {
        m: ModalityBatch(rows(mb.tensor), rows(mb.input_keep), rows(mb.target_keep)) for m, mb in conditions.items()
    }


# ---------------------------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------------------------
def check_weights(model: FourM, worker: OfficialWorker, batch: Batch, directory: Path) -> dict:
    """Teacher-forced logits and losses of both sides on the first rows of one batch, fp32."""
    path = directory / "official_logits.npz"
    official = worker.request("logits", rows=CHECK_ROWS, out=str(path))
    theirs = np.load(path)
    with torch.no_grad():
        ours = model(first_rows(batch, CHECK_ROWS), return_logits=True)
    assert ours.logits is not None
    worst, rows = 0.0, 0
    for key in theirs.files:
        modality = key.removeprefix("logits.")
        expected, got = theirs[key], ours.logits[modality].numpy()
        if expected.shape != got.shape:
            raise BenchmarkError(f"{modality}: official logits {expected.shape} vs omnimask {got.shape}")
        worst = max(worst, float(np.abs(got - expected).max()) if expected.size else 0.0)
        rows += len(expected)
    loss_diff = abs(float(ours.loss) - official["loss"])
    print(
        f"weights check (fp32, teacher forcing, {CHECK_ROWS} samples, {rows} target rows of {len(theirs.files)} "
        f"modalities): max |logit difference| {worst:.2e}; loss omnimask {float(ours.loss):.6f}, official "
        f"{official['loss']:.6f} (|difference| {loss_diff:.1e})"
    )
    if worst > LOGIT_TOLERANCE or loss_diff > LOGIT_TOLERANCE:
        raise BenchmarkError(
            f"the two sides disagree (tolerance {LOGIT_TOLERANCE}): the timings would not compare the same model"
        )
    return {
        "max_abs_logit_diff": worst,
        "rows": rows,
        "loss_omnimask": float(ours.loss),
        "loss_official": official["loss"],
    }


# ---------------------------------------------------------------------------------------------
# Cases
# ---------------------------------------------------------------------------------------------
@dataclasses.dataclass
class Case:
    """One measured thing: an omnimask run, the official worker's request for the same work, a goal."""

    name: str
    run: Callable[[], Any]
    request: dict
    units: int = 1  # per-run divisor of the times (samples for masking)
    goal: float | None = None
    unit: str = "s"  # how the table shows it: "s", "tokens/s" (training) or "us/sample"
    repeats: int = 1
    omnimask_times: list[float] = dataclasses.field(default_factory=list)
    official_times: list[float] = dataclasses.field(default_factory=list)
    omnimask_result: Any = None
    official_tokens: Any = None
    #: With ``--profile``: each side's share of self CPU time in matrix products (official_worker.MATMUL_OPS).
    omnimask_matmul_share: float | None = None
    official_matmul_share: float | None = None


def omnimask_train_step(
    model: FourM, optimizer: torch.optim.Optimizer, batches: Iterator[Batch], precision: str
) -> None:
    """The step of omnimask's Trainer: forward under the precision's autocast, backward, clip, AdamW."""
    model.train()
    optimizer.zero_grad(set_to_none=True)
    with autocast_context("cpu", precision):
        out = model(next(batches))
    out.loss.backward()
    for value in (out.loss, *out.loss_per_modality.values()):
        float(value.detach())  # the Trainer logs every loss
    clip_grad_norm(model, CLIP_GRAD)
    optimizer.step()


def cycle(batches: list[Batch]) -> Iterator[Batch]:
    while True:
        yield from batches


def train_case(model: FourM, batches: list[Batch], precision: str) -> Case:
    optimizer = build_optimizer(model, OptimConfig(lr=LEARNING_RATE, clip_grad=CLIP_GRAD), BATCH_SIZE)
    stream = cycle(batches)
    return Case(
        "training step (B=32, 128+128)",
        lambda: omnimask_train_step(model, optimizer, stream, precision),
        {"kind": "train"},
        goal=GOALS["train"],
        unit="tokens/s",
    )


def official_plan(model: FourM, conditions: Batch, plan: Plan, batch: int) -> dict:
    """The worker's description of a one-step omnimask plan (it builds the official schedule from it)."""
    (step,) = plan.steps
    return {
        "kind": "gen",
        "conditions": sorted(conditions),
        "target": step.target,
        "scheme": step.scheme,
        "num_steps": step.num_steps,
        "token_schedule": step.token_schedule,
        "temperature": step.temperature,
        "guidance_scale": step.guidance_scale,
        "guidance_conditions": list(step.guidance_conditions or conditions),
        "num_tokens": step.num_tokens or model.specs[step.target].num_tokens,
        "batch": batch,
    }


def generation_goal(plan: Plan) -> float | None:
    (step,) = plan.steps
    if step.scheme == "autoregressive":
        return GOALS["autoregressive"]
    return GOALS["guided"] if step.guidance_scale != 1.0 else None


def generation_cases(model: FourM, precision: str) -> list[Case]:
    sampler = Sampler(model, fast=True, precision=precision)
    cases = []
    for name, conditions, plan in scenarios(model, AR_SLOTS):
        for batch in GENERATION_BATCHES.get(name, (1,)):
            given = expanded(conditions, batch)
            label = re.sub(r"\bAR\b", f"AR {AR_SLOTS - 1} tokens", name) + f" (B={batch})"
            cases.append(
                Case(
                    label,
                    functools.partial(sampler.generate, given, plan, seed=0),
                    official_plan(model, conditions, plan, batch),
                    goal=generation_goal(plan),
                )
            )
    return cases


def write_conditions(model: FourM, directory: Path) -> Path:
    """The B = 1 generation conditions of ``benchmarks.generation`` (RGB pixels, caption ids) for the official side."""
    conditions = {m: mb for _, given, _ in scenarios(model, AR_SLOTS) for m, mb in given.items()}
    caption = conditions["caption"]
    path = directory / "conditions.npz"
    arrays: dict[str, Any] = {
        "rgb@224": conditions["rgb@224"].tensor.numpy(),
        "caption": caption.tensor[:, : int(caption.input_keep.sum())].numpy(),
    }
    np.savez(path, **arrays)
    return path


def masking_case(samples: list[dict[str, Any]], checkout: Path) -> Case:
    masker = Masker(
        fourm7_modalities(),
        MaskingConfig(
            num_input_tokens=NUM_INPUT_TOKENS, num_target_tokens=NUM_TARGET_TOKENS, mixture_path=str(checkout / ALPHAS)
        ),
    )
    rng = np.random.default_rng(0)

    def run() -> None:
        for i in range(MASK_SAMPLES_PER_RUN):
            masker(samples[i % len(samples)], rng)

    return Case(
        "masking per sample",
        run,
        {"kind": "mask", "samples": MASK_SAMPLES_PER_RUN},
        units=MASK_SAMPLES_PER_RUN,
        unit="us/sample",
    )


# ---------------------------------------------------------------------------------------------
# Timing
# ---------------------------------------------------------------------------------------------
def time_omnimask(case: Case, n: int) -> list[float]:
    times = []
    for _ in range(n):
        start = time.perf_counter()
        case.omnimask_result = case.run()
        times.append((time.perf_counter() - start) / case.units)
    return times


def time_official(case: Case, worker: OfficialWorker, precision: str, n: int) -> list[float]:
    reply = worker.request("time", case=case.request, precision=precision, n=n)
    case.official_tokens = reply.get("tokens", case.official_tokens)
    return reply["times"]


def warm_up(case: Case, worker: OfficialWorker, precision: str) -> None:
    """One untimed run per side (two for training: the first step allocates the optimizer state), then
    the repeats per call that make a call last about :data:`TARGET_CALL_S` on the faster side."""
    runs = 2 if case.request["kind"] == "train" else 1
    ours = time_omnimask(case, runs)[-1] * case.units
    theirs = time_official(case, worker, precision, runs)[-1] * case.units
    case.repeats = max(1, min(MAX_REPEATS, math.ceil(TARGET_CALL_S / max(min(ours, theirs), 1e-6))))


def profile_both(case: Case, worker: OfficialWorker, precision: str, out_dir: Path, n: int = 3) -> None:
    """``n`` runs of a case per side under ``torch.profiler`` (``precision``: omnimask's; the official side runs
    in :data:`OFFICIAL_PRECISION`): ``out_dir/<case>.<precision>.{omnimask,official}.txt``
    hold the op tables (by self CPU time), to see where the two sides spend a step differently."""
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = out_dir / f"{re.sub(r'[^A-Za-z0-9]+', '_', case.name).strip('_')}.{precision}"
    table, case.omnimask_matmul_share = profile_table(case.run, n)
    Path(f"{stem}.omnimask.txt").write_text(table)
    reply = worker.request("profile", case=case.request, precision=OFFICIAL_PRECISION[precision], n=n,
                           out=f"{stem}.official.txt")
    case.official_matmul_share = reply["matmul_share"]
    print(f"profiles: {stem}.omnimask.txt, {stem}.official.txt", file=sys.stderr)


def time_both(case: Case, worker: OfficialWorker, precision: str, official_first: bool) -> None:
    """One round of a case: each side runs its repeats while the other waits."""

    def ours() -> None:
        case.omnimask_times.extend(time_omnimask(case, case.repeats))

    def theirs() -> None:
        case.official_times.extend(time_official(case, worker, precision, case.repeats))

    for side in (theirs, ours) if official_first else (ours, theirs):
        side()


def measure(cases: list[Case], worker: OfficialWorker, precision: str, rounds: int) -> None:
    """Interleaved rounds: per round and case both sides in turn, the order alternating by round."""
    for case in cases:
        warm_up(case, worker, precision)
    for r in range(rounds):
        for case in cases:
            time_both(case, worker, precision, official_first=r % 2 == 1)
        print(f"  round {r + 1}/{rounds} done", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# Reporting
# ---------------------------------------------------------------------------------------------
def tokens_equal(case: Case) -> str:
    """Share of the target tokens both samplers produced alike (generation only)."""
    if case.official_tokens is None or case.omnimask_result is None:
        return ""
    ours = case.omnimask_result.tokens(case.request["target"])
    theirs = torch.tensor(case.official_tokens)
    if ours.shape != theirs.shape:
        return f"shapes {tuple(ours.shape)} / {tuple(theirs.shape)}"
    return f"{float((ours == theirs).float().mean()):.0%}"


def row(case: Case) -> dict:
    ours, theirs = statistics.median(case.omnimask_times), statistics.median(case.official_times)
    ratio = theirs / ours
    result = {
        "case": case.name,
        "unit": case.unit,
        "omnimask_s": ours,
        "official_s": theirs,
        "ratio": ratio,
        "goal": case.goal,
        "met": None if case.goal is None else ratio >= case.goal,
        "omnimask_runs": len(case.omnimask_times),
        "official_runs": len(case.official_times),
        "tokens_equal": tokens_equal(case),
    }
    if case.omnimask_matmul_share:
        # The ratio omnimask would reach if everything but its matrix products took no time.
        result["matmul_share"] = {"omnimask": case.omnimask_matmul_share, "official": case.official_matmul_share}
        result["matmul_bound"] = theirs / (ours * case.omnimask_matmul_share)
    if case.request["kind"] == "gen":
        result["tokens_per_sample"] = (
            generated_tokens(case.omnimask_result, case.omnimask_result.plan) // (case.request["batch"])
        )
    return result


def shown(seconds: float, unit: str) -> str:
    if unit == "tokens/s":
        return f"{BATCH_SIZE * (NUM_INPUT_TOKENS + NUM_TARGET_TOKENS) / seconds:,.0f} tok/s"
    if unit == "us/sample":
        return f"{seconds * 1e6:.1f} us"
    return f"{seconds:.3f} s"


def print_table(title: str, rows: list[dict]) -> None:
    """The results of one precision; with ``--profile`` also each side's matmul share and omnimask's bound."""
    profiled = any("matmul_bound" in r for r in rows)
    extra = f" {'matmul ours/theirs':>18s} {'bound':>7s}" if profiled else ""
    header = (f"{'case':44s} {'omnimask':>15s} {'official':>15s} {'ratio':>8s} {'goal':>6s} {'met':>4s}{extra}"
              "  tokens equal")
    print(f"\n{title}\n{header}\n{'-' * len(header)}")
    for r in rows:
        goal = f"{r['goal']:.0f}x" if r["goal"] else "-"
        met = "-" if r["met"] is None else ("yes" if r["met"] else "NO")
        bound = ""
        if "matmul_bound" in r:
            shares = f"{r['matmul_share']['omnimask']:.0%}/{r['matmul_share']['official']:.0%}"
            bound = f" {shares:>18s} {r['matmul_bound']:6.2f}x"
        elif profiled:
            bound = f" {'-':>18s} {'-':>7s}"
        print(
            f"{r['case']:44s} {shown(r['omnimask_s'], r['unit']):>15s} {shown(r['official_s'], r['unit']):>15s} "
            f"{r['ratio']:7.2f}x {goal:>6s} {met:>4s}{bound}  {r['tokens_equal']}"
        )
    if profiled:
        print("bound: official time / omnimask's time in matrix products, the ratio omnimask would reach if all "
              "its other work took no time (same FLOPs on both sides)")


def flops_result(batch: Batch, rows: int, steps: int) -> dict:
    """omnimask's 4M-B training step in bf16: FLOPs counted once, step time, and the bf16 matmul roof."""
    model = FourM(ModelConfig(size="B", modality_set="4m7"))
    optimizer = build_optimizer(model, OptimConfig(lr=LEARNING_RATE, clip_grad=CLIP_GRAD), rows)
    data = first_rows(batch, rows)
    with FlopCounterMode(display=False) as counter:
        with autocast_context("cpu", "bf16"):
            out = model(data)
        out.loss.backward()
    optimizer.zero_grad(set_to_none=True)
    stream = cycle([data])
    omnimask_train_step(model, optimizer, stream, "bf16")  # warm-up (optimizer state)
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        omnimask_train_step(model, optimizer, stream, "bf16")
        times.append(time.perf_counter() - start)
    roof = matmul_roof("bf16")
    step = statistics.median(times)
    flops = counter.get_total_flops()
    return {
        "model": "4M-B (D 768, 12 heads, 12+12 blocks, 4M-7)",
        "batch": rows,
        "flops_per_step": flops,
        "step_s": step,
        "achieved_flops": flops / step,
        "roof_flops": roof,
        "fraction": flops / step / roof,
        "goal": GOALS["flops"],
        "met": flops / step / roof >= GOALS["flops"],
    }


def fresh_flops_result(batch: Batch, rows: int, steps: int, threads: int) -> dict:
    """:func:`flops_result` in a freshly spawned interpreter: this process keeps the heap of every earlier
    case (omnimask's CPU allocator set-up returns nothing to the system), and a 4M-B step on top of it was
    killed for memory on a 24 GiB machine (14 GB resident; alone the step peaks at 8.4 GB)."""
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"),
                             initializer=setup_process, initargs=(threads,)) as pool:
        return pool.submit(flops_result, batch, rows, steps).result()


def setup_process(threads: int) -> None:
    """This process's (and the FLOP/s child's) torch threads and omnimask's CPU set-up (allocator); the official
    side is untouched."""
    torch.set_num_threads(threads)
    use_device("cpu")


def print_flops(result: dict) -> None:
    print(
        f"\nachieved FLOP/s, omnimask training step, {result['model']}, batch {result['batch']} x 256 tokens, bf16:\n"
        f"  {result['flops_per_step'] / 1e9:.1f} GFLOP/step in {result['step_s']:.2f} s (median) = "
        f"{result['achieved_flops'] / 1e9:.1f} GFLOP/s; bf16 matmul roof {result['roof_flops'] / 1e9:.1f} GFLOP/s "
        f"-> {result['fraction']:.1%} (goal >= {result['goal']:.0%}: {'yes' if result['met'] else 'NO'})"
    )


# ---------------------------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------------------------
def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__
    )
    parser.add_argument("--official", required=True, type=Path, help="checkout of apple/ml-4m")
    parser.add_argument("--official-python", required=True, help="the Python of the official code's environment")
    parser.add_argument("--precisions", default="fp32,bf16",
                        help="comma-separated: fp32, bf16, auto (omnimask's auto against the official fp32)")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds per case")
    parser.add_argument("--only", default="train,gen,masking,flops", help="comma-separated: train, gen, masking, flops")
    parser.add_argument("--threads", type=int, default=2, help="torch threads of each side")
    parser.add_argument("--flops-batch", type=int, default=8, help="samples per 4M-B step of the FLOP/s measurement")
    parser.add_argument("--flops-steps", type=int, default=3, help="timed 4M-B steps")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    parser.add_argument(
        "--profile",
        type=Path,
        default=None,
        help="also write torch.profiler op tables of every timed case, both sides, to this folder",
    )
    args = parser.parse_args()
    args.precisions = [p for p in args.precisions.split(",") if p]
    args.only = {p for p in args.only.split(",") if p}
    unknown = set(args.precisions) - set(OFFICIAL_PRECISION) | args.only - {"train", "gen", "masking", "flops"}
    if unknown:
        parser.error(f"unknown precision or case group: {sorted(unknown)}")
    return args


def measure_groups(
    args: argparse.Namespace, worker: OfficialWorker, train_model: FourM, gen_model: FourM, batches: list[Batch]
) -> dict[str, list[Case]]:
    """Training in every precision first, then generation: a process that has just generated (hundreds of
    tensor shapes) trains markedly slower in bf16 on both sides, which no training run sees."""
    groups: dict[str, Callable[[str], list[Case]]] = {
        "train": lambda precision: [train_case(train_model, batches, precision)],
        "gen": lambda precision: generation_cases(gen_model, precision),
    }
    measured: dict[str, list[Case]] = {p: [] for p in args.precisions}
    for group, build in groups.items():
        if group in args.only:
            for precision in args.precisions:
                print(f"\ntiming {group}, {precision} ...", file=sys.stderr, flush=True)
                cases = build(precision)
                measure(cases, worker, OFFICIAL_PRECISION[precision], args.rounds)
                if args.profile:
                    for case in cases:
                        profile_both(case, worker, precision, args.profile)
                measured[precision] += cases
    return {p: cases for p, cases in measured.items() if cases}


def run(args: argparse.Namespace, worker: OfficialWorker, directory: Path) -> dict:
    built = worker.request("build", config=MODEL_CONFIG, seed=MODEL_SEED, out=str(directory / "fm"))
    gen_model = load_fm(directory / "fm", loss_denominator="all_present")
    train_model = load_fm(directory / "fm", loss_denominator="all_present")
    print(
        f"model: D {MODEL_CONFIG['dim']}, {MODEL_CONFIG['num_heads']} heads, {MODEL_CONFIG['encoder_depth']}+"
        f"{MODEL_CONFIG['decoder_depth']} blocks, SwiGLU, 4M-7; official {built['parameters'] / 1e6:.1f} M "
        f"parameters, omnimask {sum(p.numel() for p in gen_model.parameters()) / 1e6:.1f} M (no unused image "
        f"decoder token tables); torch threads {args.threads} per side, {args.rounds} rounds"
    )
    samples_path, samples = write_samples(directory, args.official)
    worker.request(
        "data",
        samples=str(samples_path),
        batches=TRAIN_BATCHES,
        batch_size=BATCH_SIZE,
        seed=0,
        out=str(directory / "batches.npz"),
    )
    batches = read_batches(directory / "batches.npz")
    results: dict[str, Any] = {
        "config": MODEL_CONFIG,
        "threads": args.threads,
        "rounds": args.rounds,
        "weights_check": check_weights(gen_model, worker, batches[0], directory),
        "tables": {},
    }
    worker.request("conditions", path=str(write_conditions(gen_model, directory)))
    measured = measure_groups(args, worker, train_model, gen_model, batches)
    for precision, cases in measured.items():
        results["tables"][precision] = [row(c) for c in cases]
        official = OFFICIAL_PRECISION[precision]
        versus = "" if official == precision else f" against official {official}"
        print_table(f"{precision}{versus} (ratio = official time / omnimask time)", results["tables"][precision])
    if "masking" in args.only:
        case = masking_case(samples, args.official)
        measure([case], worker, "fp32", args.rounds)
        results["masking"] = row(case)
        print_table("masking (no matmuls: one precision-free measurement)", [results["masking"]])
    if "flops" in args.only:
        del gen_model, train_model
        results["flops"] = fresh_flops_result(batches[0], args.flops_batch, args.flops_steps, args.threads)
        print_flops(results["flops"])
    return results


def main() -> None:
    args = parse_args()
    check_checkout(args.official)
    setup_process(args.threads)
    started = time.perf_counter()
    with (
        tempfile.TemporaryDirectory(prefix="versus-official-") as tmp,
        open(Path(tmp) / "official_stderr.log", "w+") as log,
    ):
        worker = OfficialWorker(args.official_python, args.official.resolve(), args.threads, log)
        try:
            results = run(args, worker, Path(tmp))
        finally:
            worker.close()
    results["wall_s"] = time.perf_counter() - started
    print(f"\nwall time {results['wall_s']:.0f} s")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
        print(f"results written to {args.json}")


if __name__ == "__main__":
    main()
