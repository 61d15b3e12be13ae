"""The torch device a command runs on, checked when the command starts rather than when a kernel fails."""

from __future__ import annotations

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
