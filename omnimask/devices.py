"""The torch device a command runs on, checked when the command starts rather than when a kernel fails,
and the CPU's memory allocator set up for tensor work (:func:`use_device`)."""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os

import torch

from omnimask.config import ConfigError


def check_device(name: str | torch.device | None) -> torch.device:
    """``name`` as a :class:`torch.device` that exists on this machine (None: the CPU).

    Raises:
        ConfigError: not a device name torch knows, or an accelerator this machine (or this torch
            build) does not have — the message lists what is available.
    """
    if name is None:
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError) as err:
        raise ConfigError(f"--device {name!r} is not a torch device ({err}); e.g. cpu") from None
    if device.type in ("cpu", "meta"):
        return device
    backend = getattr(torch, device.type, None)
    available = getattr(backend, "is_available", lambda: False)()
    count = getattr(backend, "device_count", lambda: 0)() if available else 0
    if not available or (device.index is not None and device.index >= count):
        have = ["cpu"] + ([f"{device.type}:{i}" for i in range(count)] if available else [])
        raise ConfigError(f"--device {name}: this machine has no such device (torch {torch.__version__} sees "
                          f"{have}); use --device cpu")
    return device


#: Set to ``default`` to leave glibc's malloc as it is (see :func:`keep_freed_memory`).
MALLOC_ENV = "OMNIMASK_CPU_MALLOC"
_M_TRIM_THRESHOLD, _M_MMAP_MAX = -1, -4  # mallopt parameters (malloc.h)


def use_device(name: str | torch.device | None) -> torch.device:
    """:func:`check_device`, and on the CPU :func:`keep_freed_memory`: what training, generation,
    evaluation and serving call before they build anything on the device."""
    device = check_device(name)
    if device.type == "cpu":
        keep_freed_memory()
    return device


@functools.cache
def keep_freed_memory() -> bool:
    """Make glibc's malloc keep freed memory in the process instead of handing it back to the system.

    By default glibc serves every block above its mmap threshold (at most 32 MB) with a fresh
    ``mmap`` and unmaps it on free, so each large tensor of a CPU step — the fp32 logits of a text
    vocabulary, their gradients, attention scores — is page-faulted in anew on every step (a
    600 × 16384 fp32 ``log_softmax`` takes 12 ms that way, 2.6 ms into memory already mapped).
    With mmap off and a 1 GiB trim threshold freed blocks are reused: the 4M-7 d256 training step
    of ``benchmarks.versus_official`` ran 1.16× faster in bf16 and 1.05× in fp32 (A/B in one
    process). The cost: memory a step freed stays with the process until it exits (its resident size
    stays near its peak). Idempotent; returns whether the setting was applied (False off glibc, or
    when ``OMNIMASK_CPU_MALLOC=default``).
    """
    if os.environ.get(MALLOC_ENV, "").lower() == "default":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return False
    if not hasattr(libc, "gnu_get_libc_version") or not hasattr(libc, "mallopt"):  # not glibc
        return False
    return bool(libc.mallopt(_M_MMAP_MAX, 0)) and bool(libc.mallopt(_M_TRIM_THRESHOLD, 1 << 30))
