#!/usr/bin/env bash
# One-shot accelerator check of omnimask training, for a session that is lent a GPU.
#
#   bash benchmarks/gpu_check.sh            # the full check (about 5 minutes on one H200)
#   bash benchmarks/gpu_check.sh --tiny     # a dry run of the same code on the CPU
#
# Steps: environment report; benchmarks/gpu_check.py (bf16 matmul roof, SDPA kernels at the model's
# shapes, size-B training throughput and MFU for eager / FSDP2 on one device / FSDP2 + torch.compile);
# then a torchrun smoke test of `omnimask train` with FSDP2 on NCCL. Everything is printed and written
# to ${OUT:-/tmp}/gpu_check.log. Run it from anywhere inside the checkout: omnimask is imported from
# the checkout, nothing is installed or downloaded (needs torch with CUDA, numpy, einops, safetensors,
# tokenizers, tqdm, pyyaml, pillow).
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
LOG=${OUT:-/tmp}/gpu_check.log
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
TINY=0
for arg in "$@"; do [ "$arg" = "--tiny" ] && TINY=1; done

{
  echo "== omnimask gpu_check $(date -u +%FT%TZ) commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
  nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv,noheader 2>/dev/null \
    || echo "nvidia-smi: not available"
  "$PY" -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'gpu', torch.cuda.is_available())"
  "$PY" -c "import numpy, einops, safetensors, tokenizers, tqdm, yaml, PIL" \
    || { echo "a core dependency is missing: pip install -e ."; exit 1; }

  echo "== training throughput"
  timeout "${GPU_CHECK_TIMEOUT:-420}" "$PY" -m benchmarks.gpu_check "$@"
  echo "== benchmark exit status $?"

  echo "== torchrun smoke test: omnimask train, FSDP2, one process"
  if [ "$TINY" = 1 ]; then device=cpu; else device=cuda; fi
  run=$(mktemp -d)
  timeout 240 "$PY" -m torch.distributed.run --standalone --nproc-per-node 1 -m omnimask train --recipe synth_tiny \
    --out "$run" --device "$device" --set data.num_train=64 --set data.num_val=8 --set data.fit_samples=32 \
    --set steps=6 --set batch_size=8 --set eval_every=6 --set eval_batches=1 --set log_every=2 \
    --set parallel.strategy=fsdp --set precision=bf16 --set progress=false --set tensorboard=false
  echo "== torchrun exit status $?"
  tail -n 2 "$run/metrics.jsonl" 2>/dev/null | cut -c1-160
  ls "$run/checkpoint" 2>/dev/null
} 2>&1 | tee "$LOG"
