"""Reading the config that released 4M checkpoints keep in their safetensors header.

Every ``__metadata__`` value of a released ml-4m checkpoint is the ``str()`` of a Python constructor
argument (``"['rgb@224', 'caption']"``, ``"True"``, ``"4.0"``, ``"SiLU"``). The reference decodes
each value with a YAML 1.1 *safe* loader after textually replacing ``None`` by ``null``; values over
10 000 characters, or that fail to parse, stay strings. We do the same — nothing is ever evaluated.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from safetensors import safe_open

MAX_PARSED_LENGTH = 10_000


def parse_metadata_value(text: str) -> Any:
    """Decode one ``__metadata__`` string like the reference (YAML 1.1 safe load, None -> null)."""
    if len(text) > MAX_PARSED_LENGTH:
        return text
    try:
        return yaml.safe_load(text.replace("None", "null"))
    except yaml.YAMLError:
        return text


def read_metadata_config(weights: str | Path) -> dict[str, Any]:
    """The decoded ``__metadata__`` of a safetensors file (empty dict when it has none)."""
    with safe_open(str(weights), framework="pt", device="cpu") as f:
        raw = f.metadata() or {}
    return {key: parse_metadata_value(value) for key, value in raw.items()}
