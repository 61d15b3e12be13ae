"""The tokenizer training loop: a VQ-VAE of one SynthWorld map, from scratch to a shippable checkpoint.

4M trains one tokenizer per modality before the model (section 3.2); this loop does it for the
image-like SynthWorld maps and for MiniCLIP's patch features / global embeddings of their RGB
(``clip``, ``clip_global``: :mod:`omnimask.training.tokenizers.features`; no PNG grids for those).
Per step it draws a batch of raw maps (flipped at random), normalises
them through the tokenizer's card — so training sees exactly what ``tokenize`` will — and minimises
the modality's reconstruction loss (masked / weighted per pixel: sky, sparse edges) plus the
quantizer's commitment loss with AdamW under a warm-up + cosine schedule.

Output folder::

    OUT/train_config.json        the resolved run configuration
    OUT/metrics.jsonl            train records (loss, lr, codebook usage / perplexity) and val records
    OUT/samples/step_NNNNNN.png  validation inputs next to their reconstructions
    OUT/checkpoint/              model.safetensors + config.json (card) + train_state.pt (resume)
    OUT/tokenizer/               the final tokenizer (loads with ModalityTokenizer.load)
    OUT/metrics.json             final validation metrics, wall time, machine load

Everything random takes a generator derived from ``cfg.seed`` (the batch of step ``s`` from
``(seed, s)``), so a run is reproducible and a resumed run continues exactly as if uninterrupted.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from omnimask.config import ConfigError, load_config, save_config, to_dict
from omnimask.files import RUN_CONFIG_NAME, STATE_NAME, atomic_dir
from omnimask.progress import tqdm
from omnimask.tokenizers.base import ModalityTokenizer
from omnimask.tokenizers.losses import reconstruction_loss
from omnimask.tokenizers.quantizers.metrics import stats_from_counts
from omnimask.training.metrics import MetricsLog
from omnimask.training.optim import build_optimizer, build_scheduler
from omnimask.training.tokenizers.data import load_maps, sample_batch
from omnimask.training.tokenizers.evaluate import HEADLINE, evaluate_tokenizer, reconstruction_grid, round_trip
from omnimask.training.tokenizers.features import FEATURE_KINDS, compute_features, miniclip, split_captions
from omnimask.training.tokenizers.recipes import TokenizerTrainConfig

#: Settings a resumed run may change (how long and how often it reports, not what it learns).
RESUMABLE_CHANGES = ("steps", "threads", "log_every", "image_every", "save_every", "eval_every")


def step_generator(seed: int, step: int) -> torch.Generator:
    """The generator of step ``step``'s batch (independent of where a run was resumed)."""
    return torch.Generator().manual_seed(seed * 1_000_003 + step)


def class_weights(labels: np.ndarray, num_classes: int, exponent: float) -> torch.Tensor:
    """(K,) weights ∝ frequency^−exponent of each class in ``labels``, scaled so an average pixel weighs 1."""
    freq = torch.bincount(torch.from_numpy(labels.reshape(-1)).long(), minlength=num_classes).double()
    freq = freq / freq.sum()
    w = freq.clamp_min(1e-6) ** (-exponent)  # absent classes get a finite weight and count for nothing below
    return (w / (w * freq).sum()).float()


def hard_pixel_weights(logits: torch.Tensor, target: torch.Tensor, gamma: float) -> torch.Tensor:
    """(B, H, W) focal weights (1 − p_true)^γ of class logits (B, K, H, W) with ids (B, H, W), or of
    binary logits (B, 1, H, W) with a 0/1 target (B, 1, H, W); detached (a weighting, not a loss)."""
    with torch.no_grad():
        if target.ndim == 3:
            p_true = logits.float().softmax(1).gather(1, target[:, None]).squeeze(1)
        else:
            p = logits.float().sigmoid()[:, 0]
            p_true = torch.where(target[:, 0] > 0.5, p, 1 - p)
        return (1 - p_true).clamp_min(0) ** gamma


def pixel_weights(tokenizer: ModalityTokenizer, raw: np.ndarray, target: torch.Tensor,
                  cfg: TokenizerTrainConfig, per_class: torch.Tensor | None = None) -> torch.Tensor | None:
    """(B, H, W) loss weights: invalid pixels × ``invalid_weight``, positives of binary maps ×
    ``positive_weight``, class ids × ``per_class``; None when every pixel weighs 1."""
    weights = None
    valid = tokenizer.card.valid_mask(raw)
    if valid is not None and cfg.invalid_weight != 1.0:
        weights = valid.float() + cfg.invalid_weight * (~valid).float()
    if cfg.output == "binary" and cfg.positive_weight != 1.0:
        positive = 1 + (cfg.positive_weight - 1) * target[:, 0]
        weights = positive if weights is None else weights * positive
    if per_class is not None and target.ndim == 3:
        weights = per_class[target] if weights is None else weights * per_class[target]
    return weights


def _new_tokenizer(cfg: TokenizerTrainConfig) -> ModalityTokenizer:
    torch.manual_seed(cfg.seed)  # parameter initialisation
    return ModalityTokenizer.create(cfg.arch, name=cfg.modality, modality=cfg.modality, input=cfg.input,
                                    output=cfg.output)  # fmt: skip


def _quantizer_generator(tokenizer: ModalityTokenizer) -> torch.Generator | None:
    gen = getattr(tokenizer.model.quantize, "generator", None)
    return gen if isinstance(gen, torch.Generator) else None


def _check_resumable(saved: TokenizerTrainConfig, cfg: TokenizerTrainConfig) -> None:
    a, b = to_dict(saved), to_dict(cfg)
    changed = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k) and k not in RESUMABLE_CHANGES)
    if changed:
        raise ConfigError(f"--resume: this run's settings differ from the saved ones in {changed}; "
                          "resume with the same recipe and --set values, or pick another --out")  # fmt: skip


class TokenizerTrainer:
    """Trains one map tokenizer into ``out`` (see module docstring); ``run()`` returns the final metrics."""

    def __init__(self, cfg: TokenizerTrainConfig, out: str | Path, resume: bool = False,
                 progress: bool = True) -> None:
        self.cfg, self.out, self.progress = cfg, Path(out), progress
        if cfg.threads > 0:
            torch.set_num_threads(cfg.threads)
        checkpoint = self.out / "checkpoint"
        if resume and (checkpoint / STATE_NAME).is_file():
            _check_resumable(load_config(TokenizerTrainConfig, self.out / RUN_CONFIG_NAME), cfg)
        elif (checkpoint / STATE_NAME).is_file():
            raise ConfigError(f"{self.out} already holds a tokenizer run; pass --resume to continue it, or "
                              "choose another --out")  # fmt: skip
        else:
            resume = False
        self.out.mkdir(parents=True, exist_ok=True)
        save_config(cfg, self.out / RUN_CONFIG_NAME)
        self.tokenizer = _new_tokenizer(cfg)
        self.optimizer = build_optimizer(self.tokenizer.model, cfg.optim, cfg.batch_size)
        self.scheduler = build_scheduler(self.optimizer, cfg.optim, cfg.steps, cfg.batch_size)
        self.step, self.seconds = 0, 0.0
        if resume:
            self._load(checkpoint)
        self.text: torch.Tensor | None = None  # caption embeddings of the validation scenes (clip_global)
        if cfg.modality in FEATURE_KINDS:
            labeler = miniclip()
            self.train_maps = compute_features(cfg.modality, load_maps(cfg.data, "rgb", "train", progress), labeler)
            self.val_maps = compute_features(cfg.modality, load_maps(cfg.data, "rgb", "val", progress), labeler)
            if FEATURE_KINDS[cfg.modality] == "global":
                d = cfg.data
                captions = split_captions(d.path, "val", len(self.val_maps), seed=d.seed, num_scenes=d.num_scenes,
                                          resolution=d.resolution)  # fmt: skip
                self.text = labeler.encode_text(captions).float()
        else:
            self.train_maps = load_maps(cfg.data, cfg.modality, "train", progress)
            self.val_maps = load_maps(cfg.data, cfg.modality, "val", progress)
        labels = self.tokenizer.model.num_labels
        balance = cfg.class_balance
        self.per_class = class_weights(self.train_maps, labels, balance) if labels and balance else None

    # ---- checkpoints ----------------------------------------------------------------------------
    def _save(self) -> None:
        with atomic_dir(self.out / "checkpoint") as tmp:
            self.tokenizer.save(tmp)
            gen = _quantizer_generator(self.tokenizer)
            torch.save({
                "step": self.step, "seconds": self.seconds,
                "optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
                "quantizer_generator": gen.get_state() if gen is not None else None,
            }, tmp / STATE_NAME)  # fmt: skip

    def _load(self, checkpoint: Path) -> None:
        loaded = ModalityTokenizer.load(checkpoint)
        self.tokenizer.model.load_state_dict(loaded.model.state_dict())
        state = torch.load(checkpoint / STATE_NAME, weights_only=True)
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        gen = _quantizer_generator(self.tokenizer)
        if gen is not None and state["quantizer_generator"] is not None:
            gen.set_state(state["quantizer_generator"])
        self.step, self.seconds = int(state["step"]), float(state["seconds"])

    # ---- one step -------------------------------------------------------------------------------
    def train_step(self) -> dict[str, Any]:
        """One optimisation step on a fresh batch; returns its scalars and ids."""
        cfg, tok = self.cfg, self.tokenizer
        tok.train()
        raw = sample_batch(self.train_maps, cfg.modality, cfg.batch_size, step_generator(cfg.seed, self.step),
                           cfg.data.flip)  # fmt: skip
        x = tok.card.normalize(raw)  # the target too: values, class ids or a 0/1 map
        out = tok.model(x)
        weights = pixel_weights(tok, raw, x, cfg, self.per_class)
        if cfg.focal_gamma > 0 and cfg.output in ("class_logits", "binary"):
            focal = hard_pixel_weights(out.recon, x, cfg.focal_gamma)
            weights = focal if weights is None else weights * focal
        recon = reconstruction_loss(cfg.arch.loss, out.recon, x, weights)
        loss = recon + out.quantizer_loss
        if not torch.isfinite(loss):
            raise FloatingPointError(f"non-finite loss at step {self.step}; lower optim.lr or check the data")
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(tok.model.parameters(), cfg.optim.clip_grad)
        self.optimizer.step()
        self.scheduler.step()
        return {"loss": loss.item(), "recon_loss": recon.item(), "quantizer_loss": out.quantizer_loss.item(),
                "ids": out.ids.detach()}  # fmt: skip

    # ---- reports --------------------------------------------------------------------------------
    def save_grid(self, name: str, title: str = "") -> Path:
        maps = self.val_maps[: self.cfg.grid_samples]
        self.tokenizer.eval()
        _, recon = round_trip(self.tokenizer, maps)
        path = self.out / "samples" / f"{name}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        reconstruction_grid(self.cfg.modality, maps, recon, title or name).save(path)
        return path

    def evaluate(self, limit: int = 0) -> dict[str, Any]:
        maps = self.val_maps[:limit] if limit else self.val_maps
        text = self.text[: len(maps)] if self.text is not None else None
        return evaluate_tokenizer(self.tokenizer, maps, self.cfg.modality, text=text)

    def run(self) -> dict[str, Any]:
        """Train up to ``cfg.steps``, then evaluate on the whole validation split and save the tokenizer."""
        cfg = self.cfg
        log = MetricsLog(self.out, tensorboard=False)
        counts = torch.zeros(cfg.arch.quantizer.codebook_size, dtype=torch.int64)
        sums = {"loss": 0.0, "recon_loss": 0.0, "quantizer_loss": 0.0}
        n, headline = 0, HEADLINE[cfg.modality][0]
        bar = tqdm(total=cfg.steps, initial=self.step, desc=f"tokenizer {cfg.modality}", unit="step",
                   disable=not self.progress, dynamic_ncols=True)  # fmt: skip
        start = time.perf_counter() - self.seconds
        try:
            while self.step < cfg.steps:
                result = self.train_step()
                self.step += 1
                counts += torch.bincount(result["ids"].flatten().cpu(), minlength=len(counts))
                for k in sums:
                    sums[k] += result[k]
                n += 1
                if self.step % cfg.log_every == 0 or self.step == cfg.steps:
                    stats = stats_from_counts(counts)
                    record = {"step": self.step, "split": "train", **{k: v / n for k, v in sums.items()},
                              "lr": self.scheduler.get_last_lr()[0], "codebook_usage": stats.usage,
                              "perplexity": stats.perplexity, "seconds": time.perf_counter() - start}  # fmt: skip
                    log.write(record)
                    bar.set_postfix(loss=f"{record['loss']:.4f}", usage=f"{stats.usage:.0%}",
                                    ppl=f"{stats.perplexity:.0f}")  # fmt: skip
                    counts.zero_()
                    sums = dict.fromkeys(sums, 0.0)
                    n = 0
                if cfg.eval_every and self.step % cfg.eval_every == 0 and self.step < cfg.steps:
                    val = self.evaluate(cfg.eval_samples)
                    log.write({"step": self.step, "split": "val", **{k: v for k, v in val.items() if k != "class_iou"}})
                    bar.write(f"step {self.step}: val {headline} {val[headline]:.4f}, "
                              f"usage {val['codebook_usage']:.0%}")  # fmt: skip
                if cfg.image_every and self.step % cfg.image_every == 0 and cfg.modality not in FEATURE_KINDS:
                    self.save_grid(f"step_{self.step:06d}")
                if self.step % cfg.save_every == 0 or self.step == cfg.steps:
                    self.seconds = time.perf_counter() - start
                    self._save()
                bar.update(1)
        finally:
            bar.close()
        self.seconds = time.perf_counter() - start
        return self.finish(log)

    def finish(self, log: MetricsLog) -> dict[str, Any]:
        """Final validation metrics, the last picture and the tokenizer folder."""
        final = self.evaluate(self.cfg.data.max_val)
        log.write({"step": self.step, "split": "val", **{k: v for k, v in final.items() if k != "class_iou"}})
        log.close()
        result = {
            "modality": self.cfg.modality, "recipe": self.cfg.recipe, "steps": self.step,
            "train_seconds": round(self.seconds, 1), "load_average": list(os.getloadavg()),
            "threads": torch.get_num_threads(), "train_maps": len(self.train_maps), "val": final,
        }  # fmt: skip
        if self.cfg.modality not in FEATURE_KINDS:
            self.save_grid(f"step_{self.step:06d}", f"{self.cfg.modality}: {json.dumps(_short(final))}")
        self.tokenizer.save(self.out / "tokenizer")
        (self.out / "metrics.json").write_text(json.dumps(result, indent=2) + "\n")
        return result


def _short(metrics: dict[str, Any]) -> dict[str, Any]:
    return {k: round(v, 4) for k, v in metrics.items() if isinstance(v, float)}


def train_tokenizer(cfg: TokenizerTrainConfig, out: str | Path, resume: bool = False,
                    progress: bool = True) -> dict[str, Any]:
    """Train (or resume) one map tokenizer into ``out``; returns the final metrics (also in metrics.json)."""
    return TokenizerTrainer(cfg, out, resume, progress).run()
