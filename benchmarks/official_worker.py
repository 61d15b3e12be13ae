"""The official side of ``benchmarks.versus_official``: apple/ml-4m's own code, in its own environment.

The driver starts this file with the official code's Python (never omnimask's) as
``<python> benchmarks/official_worker.py --checkout DIR --threads N``. It imports only what the
benchmark needs from the checkout — ``fourm.models.fm`` (``FM``), ``fourm.models.generate``
(``GenerationSampler``, ``build_chained_generation_schedules``), ``fourm.data.modality_info``,
``fourm.data.masking`` (``UnifiedMasking``), ``fourm.utils.optim_factory`` and
``fourm.utils.native_scaler`` — without running the package ``__init__`` files of ``fourm.utils`` and
``fourm.data``, which pull in torchvision-dependent data pipelines: those two are registered as bare
packages and ``fourm.utils`` gets exactly the four names the imported modules take from it. torchvision
itself is replaced by empty stub modules (a CPU torch and PyPI's CUDA torchvision do not mix; the
transforms that would use it never run here). On Python >= 3.11 ``fm.py``'s
``random.sample(mod_dict.items(), ...)`` raises TypeError; that module gets a ``random`` whose
``sample`` does what Python 3.10 did (:func:`allow_dict_view_sampling`).

Run it with the official environment's Python; the script's own folder is taken off ``sys.path``
(``benchmarks/tokenizers.py`` would shadow the ``tokenizers`` package).

Protocol: one JSON request per line on stdin, one JSON reply per line on the original stdout
(``{"ok": true, ...}`` or ``{"ok": false, "error": traceback}``); everything the official code prints
goes to stderr. The first reply, sent unasked, says the imports worked. While it waits for a request
the worker is idle, so the driver can time the two sides one at a time. Requests (``cmd``):

* ``build`` {config, seed, out}: ``FM(config)`` with the official init after ``torch.manual_seed(seed)``;
  its state dict is written to ``out/model.safetensors`` (config in ``__metadata__``, as released)
  and ``out/config.json``. One copy generates, a second one trains (so generation always runs the
  saved weights).
* ``data`` {samples, batches, batch_size, seed, out}: masks the raw samples the driver wrote with the
  official ``UnifiedMasking`` (the released ``mix_mod7_all2all_rgb2all_a0.5`` alphas, 128 + 128
  tokens), collates ``batches`` batches, keeps them for training and writes them to ``out`` (npz).
* ``logits`` {rows, out}: teacher-forced forward of the first ``rows`` samples of batch 0 in fp32 on the
  generating copy; per output modality the logits of its targets (batch-major, ascending position)
  and the official losses go to ``out``.
* ``conditions`` {path}: the generation conditions (npz: ``rgb@224`` pixels, ``caption`` ids).
* ``time`` {case, precision, n}: runs the case ``n`` times; replies the seconds of each run (and for
  generation the target tokens of the last run). Cases: ``{"kind": "train"}``, ``{"kind": "mask",
  "samples": k}`` (seconds per sample), ``{"kind": "gen", ...}`` (the plan's fields, see the driver).
* ``profile`` {case, precision, n, out}: as ``time``, under ``torch.profiler``; the op table goes to ``out``,
  the share of self CPU time in matrix products comes back.
* ``quit``.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import importlib
import json
import random
import sys
import time
import traceback
import types
from collections.abc import Callable, Iterator
from collections.abc import Set as AbstractSet
from pathlib import Path
from typing import Any

import numpy as np
import torch

#: The official text tokenizer and alpha mixture, relative to the checkout.
TEXT_TOKENIZER = "fourm/utils/tokenizer/trained/text_tokenizer_4m_wordpiece_30k.json"
ALPHAS = "cfgs/default/4m/alphas_mixture/main/mix_mod7_all2all_rgb2all_a0.5.yaml"
#: Files a checkout of apple/ml-4m must have for this benchmark.
REQUIRED_FILES = (
    "fourm/models/fm.py",
    "fourm/models/generate.py",
    "fourm/models/fm_utils.py",
    "fourm/data/modality_info.py",
    "fourm/data/masking.py",
    "fourm/utils/misc.py",
    "fourm/utils/optim_factory.py",
    "fourm/utils/native_scaler.py",
    TEXT_TOKENIZER,
    ALPHAS,
)
#: Encoder / decoder token budgets of every forward (the 4M-7 recipes' 128 + 128).
NUM_INPUT_TOKENS = 128
NUM_TARGET_TOKENS = 128
#: The official training recipe's AdamW (betas, eps, weight decay) and the gradient clip omnimask uses.
OPTIMIZER = {"opt": "adamw", "lr": 1e-4, "weight_decay": 0.05, "opt_eps": 1e-8, "opt_betas": [0.9, 0.95]}
CLIP_GRAD = 1.0
STUBBED_MODULES = ("torchvision", "torchvision.transforms", "torchvision.transforms.functional")
#: What fm.py, generate.py, modality_info.py, modality_transforms.py and masking.py import from ``fourm.utils``.
UTILS_NAMES = {
    "fourm.utils.misc": ("generate_uint15_hash", "to_2tuple"),
    "fourm.utils.tokenizer.text_tokenizer": ("get_sentinel_to_id_mapping", "merge_span_masking"),
}


# ---------------------------------------------------------------------------------------------
# Importing the official code
# ---------------------------------------------------------------------------------------------
class UnusableTransform:
    """What every torchvision name resolves to: constructible (``modality_info`` builds its transforms at
    import), but never to be applied — the benchmark feeds the model tensors, not images."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("torchvision is stubbed out in this benchmark's official environment")


def stub_attribute(name: str) -> type[UnusableTransform]:
    if name.startswith("__"):
        raise AttributeError(name)
    return UnusableTransform


def register_module(name: str, path: Path | None = None) -> types.ModuleType:
    """A package module in ``sys.modules`` (and on its parent) whose submodules load from ``path``;
    without a path, a torchvision stub whose every public name is :class:`UnusableTransform`."""
    module = types.ModuleType(name)
    module.__path__ = [str(path)] if path is not None else []
    if path is None:
        module.__getattr__ = stub_attribute  # type: ignore[method-assign]
    sys.modules[name] = module
    parent, _, child = name.rpartition(".")
    if parent:
        setattr(sys.modules[parent], child, module)
    return module


def sample_like_python_310(population: Any, k: int) -> list:
    """``random.sample`` as Python <= 3.10 ran it on a set or dict view (as a tuple; 3.11 raises TypeError)."""
    return random.sample(tuple(population) if isinstance(population, AbstractSet) else population, k)


def allow_dict_view_sampling(module: types.ModuleType) -> None:
    """fm.py shuffles the decoder modalities with ``random.sample(mod_dict.items(), ...)``, which Python 3.11
    refuses; give that module a ``random`` whose ``sample`` does what 3.10 did (same generator, same draws)."""
    if sys.version_info >= (3, 11):
        shim = types.ModuleType("random")
        shim.__dict__.update(vars(random))
        shim.sample = sample_like_python_310  # type: ignore[attr-defined]
        module.random = shim  # type: ignore[attr-defined]


def import_official(checkout: Path) -> types.SimpleNamespace:
    """The official modules the benchmark uses, imported from ``checkout`` as the module docstring says."""
    for name in STUBBED_MODULES:
        register_module(name)
    package = checkout / "fourm"
    register_module("fourm", package)
    utils = register_module("fourm.utils", package / "utils")
    register_module("fourm.data", package / "data")
    for source, names in UTILS_NAMES.items():
        module = importlib.import_module(source)
        for name in names:
            setattr(utils, name, getattr(module, name))
    fm = importlib.import_module("fourm.models.fm")
    allow_dict_view_sampling(fm)
    return types.SimpleNamespace(
        fm=fm,
        generate=importlib.import_module("fourm.models.generate"),
        modality_info=importlib.import_module("fourm.data.modality_info"),
        masking=importlib.import_module("fourm.data.masking"),
        optim_factory=importlib.import_module("fourm.utils.optim_factory"),
        native_scaler=importlib.import_module("fourm.utils.native_scaler"),
    )


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------
def autocast(precision: str) -> contextlib.AbstractContextManager:
    """bf16 autocast on the CPU (what the official training scripts use for ``dtype: bfloat16``), or nothing."""
    if precision == "bf16":
        return torch.autocast(device_type="cpu", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def seed_everything(seed: int) -> None:
    """The official masking draws from Python's, numpy's and torch's generators."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def collate(samples: list[dict[str, dict[str, torch.Tensor]]]) -> dict[str, dict[str, torch.Tensor]]:
    """Stack masked samples into a batch mod_dict, as the official DataLoader's default collate does."""
    return {
        mod: {field: torch.stack([s[mod][field] for s in samples]) for field in samples[0][mod]} for mod in samples[0]
    }


def flatten(batch: dict[str, dict[str, torch.Tensor]], prefix: str) -> dict[str, np.ndarray]:
    return {f"{prefix}{mod}.{field}": value.numpy() for mod, fields in batch.items() for field, value in fields.items()}


def first_rows(batch: dict[str, dict[str, torch.Tensor]], rows: int) -> dict[str, dict[str, torch.Tensor]]:
    return {mod: {field: value[:rows] for field, value in fields.items()} for mod, fields in batch.items()}


class PretokenizedText:
    """The text tokenizer with the samples' strings encoded beforehand.

    omnimask's masking receives token ids, the official one strings it tokenizes itself; timing the
    official masking through this lookup leaves tokenization out of both sides.
    """

    def __init__(self, tokenizer: Any, texts: list[str]) -> None:
        self._tokenizer = tokenizer
        self._encodings = {text: tokenizer.encode(text) for text in texts}

    def encode(self, text: str) -> Any:
        return self._encodings.get(text) or self._tokenizer.encode(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._tokenizer, name)


# ---------------------------------------------------------------------------------------------
# The worker
# ---------------------------------------------------------------------------------------------
class Worker:
    """The official code's live objects and the requests of the module docstring."""

    def __init__(self, checkout: Path) -> None:
        self.checkout = checkout
        self.official = import_official(checkout)
        from tokenizers import Tokenizer

        self.text_tokenizer = Tokenizer.from_file(str(checkout / TEXT_TOKENIZER))
        self.batches: list[dict[str, dict[str, torch.Tensor]]] = []
        self.samples: list[dict[str, Any]] = []
        self.conditions: dict[str, torch.Tensor] = {}
        self.generation_cases: dict[str, tuple[dict, list[dict]]] = {}
        self.steps_taken = 0

    # -- model -----------------------------------------------------------------------------------
    def build(self, config: dict, seed: int, out: str) -> dict:
        from safetensors.torch import save_file

        torch.manual_seed(seed)
        model = self.official.fm.FM(config=copy.deepcopy(config))
        out_dir = Path(out)
        out_dir.mkdir(parents=True, exist_ok=True)
        tensors = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}  # unshare mod_emb
        save_file(tensors, str(out_dir / "model.safetensors"), metadata={k: str(v) for k, v in config.items()})
        (out_dir / "config.json").write_text(json.dumps(config, indent=2))
        self.gen_model = model.eval()
        self.sampler = self.official.generate.GenerationSampler(self.gen_model)
        self.train_model = copy.deepcopy(model).train()
        args = argparse.Namespace(**OPTIMIZER)
        self.optimizer = self.official.optim_factory.create_optimizer(args, self.train_model)
        self.loss_scaler = self.official.native_scaler.NativeScalerWithGradNormCount(enabled=False)
        return {"parameters": sum(p.numel() for p in model.parameters())}

    # -- data ------------------------------------------------------------------------------------
    def masking_info(self) -> dict[str, dict]:
        """Modality info of the released 4M-7 alpha mixture, as the official ``setup_sampling_mod_info``
        and ``run_training_4m.py`` prepare it (sorted domains, alphas, keep schemes, 196 image tokens)."""
        import yaml

        alphas = yaml.safe_load((self.checkout / ALPHAS).read_text())
        info = {}
        for mod in sorted(alphas):
            entry = copy.deepcopy(self.official.modality_info.MODALITY_INFO[mod])
            entry["input_alphas"] = alphas[mod]["input_alphas"]
            entry["target_alphas"] = alphas[mod]["target_alphas"]
            if entry["type"] in ("seq", "seq_emb", "seq_token"):
                entry["keep"] = alphas[mod]["keep"]
            if entry["type"] == "img":
                entry["max_tokens"] = (224 // 16) ** 2
            info[mod] = entry
        return info

    def masker(self, tokenizer: Any) -> Any:
        return self.official.masking.UnifiedMasking(
            modality_info=self.masking_info(),
            text_tokenizer=tokenizer,
            input_tokens_range=NUM_INPUT_TOKENS,
            target_tokens_range=NUM_TARGET_TOKENS,
        )

    def read_samples(self, path: str) -> list[dict[str, Any]]:
        """Raw samples from the driver's files: pixels, token grids and the caption / detection strings."""
        arrays = np.load(path)
        texts = json.loads(Path(path).with_suffix(".json").read_text())
        images = torch.from_numpy(arrays["rgb@224"])
        samples = []
        for i in range(len(texts["caption"])):
            sample: dict[str, Any] = {"rgb@224": images[i % len(images)]}
            for key in arrays.files:
                if key.startswith("tok_"):
                    sample[key] = torch.from_numpy(arrays[key][i])
            sample["caption"], sample["det"] = texts["caption"][i], texts["det"][i]
            samples.append(sample)
        return samples

    def data(self, samples: str, batches: int, batch_size: int, seed: int, out: str) -> dict:
        self.samples = self.read_samples(samples)
        masker = self.masker(self.text_tokenizer)
        seed_everything(seed)
        order = [i % len(self.samples) for i in range(batches * batch_size)]
        masked = [masker(self.samples[i]) for i in order]
        self.batches = [collate(masked[b * batch_size : (b + 1) * batch_size]) for b in range(batches)]
        texts = [s["caption"] for s in self.samples] + [s["det"] for s in self.samples]
        self.pretokenized_masker = self.masker(PretokenizedText(self.text_tokenizer, texts))
        arrays: dict[str, Any] = {}
        for b, batch in enumerate(self.batches):
            arrays.update(flatten(batch, f"{b}."))
        np.savez(out, **arrays)
        return {"batches": len(self.batches)}

    def logits(self, rows: int, out: str) -> dict:
        """Teacher-forced logits of the official forward, captured where it computes the loss."""
        model = self.gen_model
        captured: dict[str, Any] = {}
        original = model.forward_loss

        def capture(y, target_ids, decoder_mod_dict, decoder_mod_mask, loss_type):
            captured.update(model.forward_logits(y, decoder_mod_dict, decoder_mod_mask))
            return original(y, target_ids, decoder_mod_dict, decoder_mod_mask, loss_type)

        model.forward_loss = capture
        try:
            with torch.no_grad():
                loss, mod_loss = model(
                    first_rows(self.batches[0], rows),
                    num_encoder_tokens=NUM_INPUT_TOKENS,
                    num_decoder_tokens=NUM_TARGET_TOKENS,
                    loss_type="mod",
                )
        finally:
            del model.forward_loss
        logits: dict[str, Any] = {f"logits.{mod}": value.numpy() for mod, value in captured.items()}
        np.savez(out, **logits)
        return {"loss": float(loss), "loss_per_modality": {mod: float(v) for mod, v in mod_loss.items()}}

    # -- timed work ------------------------------------------------------------------------------
    def train_step(self) -> None:
        """One step of the official training loop: forward + loss, backward, gradient clip, AdamW."""
        batch = self.batches[self.steps_taken % len(self.batches)]
        self.steps_taken += 1
        loss, mod_loss = self.train_model(
            batch, num_encoder_tokens=NUM_INPUT_TOKENS, num_decoder_tokens=NUM_TARGET_TOKENS, loss_type="mod"
        )
        for value in (loss, *mod_loss.values()):
            value.item()  # the official loop logs every loss
        self.loss_scaler(
            loss,
            self.optimizer,
            clip_grad=CLIP_GRAD,
            parameters=self.train_model.parameters(),
            compute_grad_norm=True,
            update_grad=True,
        )
        self.optimizer.zero_grad()

    def mask_samples(self, count: int) -> None:
        for i in range(count):
            self.pretokenized_masker(self.samples[i % len(self.samples)])

    def read_conditions(self, path: str) -> dict:
        arrays = np.load(path)
        self.conditions = {name: torch.from_numpy(arrays[name]) for name in arrays.files}
        return {"conditions": sorted(self.conditions)}

    def generation_case(self, case: dict) -> tuple[dict, list[dict]]:
        """The initial mod_dict (the official ``init_*`` helpers) and the official schedule of a plan."""
        key = json.dumps(case, sort_keys=True)
        if key not in self.generation_cases:
            gen = self.official.generate
            info = self.gen_model.modality_info
            batch = case["batch"]
            mod_dict: dict[str, dict[str, torch.Tensor]] = {}
            for name in case["conditions"]:
                tensor = self.conditions[name]
                mod_dict[name] = {"tensor": tensor.expand(batch, *tensor.shape[1:]).clone()}
                mod_dict = gen.init_full_input_modality(mod_dict, info, name, "cpu")
            mod_dict = gen.init_empty_target_modality(mod_dict, info, case["target"], batch, case["num_tokens"], "cpu")
            schedule = gen.build_chained_generation_schedules(
                cond_domains=list(case["guidance_conditions"]),
                target_domains=[case["target"]],
                tokens_per_target=[case["num_tokens"]],
                autoregression_schemes=[case["scheme"]],
                decoding_steps=[case["num_steps"]],
                token_decoding_schedules=[case["token_schedule"]],
                temps=[float(case["temperature"])],
                temp_schedules=["constant"],
                cfg_scales=[float(case["guidance_scale"])],
                cfg_schedules=["constant"],
                modality_info=info,
            )
            self.generation_cases[key] = (mod_dict, schedule)
        return self.generation_cases[key]

    def generate(self, case: dict) -> torch.Tensor:
        mod_dict, schedule = self.generation_case(case)
        out = self.sampler.generate(mod_dict, schedule, text_tokenizer=self.text_tokenizer, seed=0)
        return out[case["target"]]["tensor"]

    def runner(self, case: dict) -> tuple[Callable[[], Any], int]:
        """The callable one timed run executes, and how many units it covers (samples for masking)."""
        if case["kind"] == "train":
            return self.train_step, 1
        if case["kind"] == "mask":
            return lambda: self.mask_samples(case["samples"]), case["samples"]
        if case["kind"] == "gen":
            return lambda: self.generate(case), 1
        raise ValueError(f"unknown case kind {case['kind']!r}")

    def time(self, case: dict, precision: str, n: int) -> dict:
        run, units = self.runner(case)
        times, result = [], None
        with autocast(precision):
            for _ in range(n):
                start = time.perf_counter()
                result = run()
                times.append((time.perf_counter() - start) / units)
        reply: dict[str, Any] = {"times": times}
        if isinstance(result, torch.Tensor):
            reply["tokens"] = result.tolist()
        return reply

    def profile(self, case: dict, precision: str, n: int, out: str) -> dict:
        """``n`` runs of a case under ``torch.profiler``; the op table (by self CPU time) goes to ``out``,
        the share of that time in matrix products comes back."""
        run, _ = self.runner(case)
        with autocast(precision):
            table, share = profile_table(run, n)
        Path(out).write_text(table)
        return {"out": out, "matmul_share": share}


#: The profiler's names of the matrix-product kernels (linear layers, attention products, heads).
MATMUL_OPS: frozenset[str] = frozenset({"aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm"})


def profile_table(run: Callable[[], Any], n: int) -> tuple[str, float]:
    """One warm-up call of ``run``, then ``n`` calls under ``torch.profiler`` (used by both sides).

    Returns:
        the op table by self CPU time, and the share of all self CPU time spent in :data:`MATMUL_OPS`.
    """
    run()
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        for _ in range(n):
            run()
    events = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in events)
    matmul = sum(e.self_cpu_time_total for e in events if e.key in MATMUL_OPS)
    return events.table(sort_by="self_cpu_time_total", row_limit=40), matmul / total if total else 0.0


def requests(stream: Any) -> Iterator[dict]:
    for line in stream:
        if line.strip():
            yield json.loads(line)


def serve(checkout: Path, protocol: Any) -> None:
    """Import, announce, then answer requests until ``quit`` or end of input."""

    def reply(message: dict) -> None:
        protocol.write(json.dumps(message) + "\n")
        protocol.flush()

    try:
        worker = Worker(checkout)
    except Exception:
        reply({"ok": False, "error": traceback.format_exc()})
        return
    reply({"ok": True, "torch": torch.__version__, "threads": torch.get_num_threads()})
    handlers: dict[str, Callable[..., dict]] = {
        "build": worker.build,
        "data": worker.data,
        "logits": worker.logits,
        "conditions": worker.read_conditions,
        "time": worker.time,
        "profile": worker.profile,
    }
    for request in requests(sys.stdin):
        command = request.pop("cmd")
        if command == "quit":
            reply({"ok": True})
            return
        try:
            reply({"ok": True, **handlers[command](**request)})
        except Exception:
            reply({"ok": False, "error": traceback.format_exc()})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkout", required=True, type=Path, help="apple/ml-4m checkout")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's choice)")
    args = parser.parse_args()
    here = str(Path(__file__).resolve().parent)
    sys.path[:] = [p for p in sys.path if str(Path(p or ".").resolve()) != here]  # benchmarks/tokenizers.py etc.
    if args.threads:
        torch.set_num_threads(args.threads)
    protocol = sys.stdout
    sys.stdout = sys.stderr  # the official code's prints must not reach the protocol stream
    serve(args.checkout.resolve(), protocol)


if __name__ == "__main__":
    main()
