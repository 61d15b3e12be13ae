"""Limits of a served model: what a request may ask for, and how many may wait."""

from __future__ import annotations

import dataclasses

from omnimask.config import ConfigError


@dataclasses.dataclass(frozen=True, kw_only=True)
class ServeSettings:
    """Limits of ``omnimask serve`` (each is a ``--set``-able field of the command).

    Attributes:
        max_request_bytes: largest request body, in bytes; refused (413) from its Content-Length before it
            is read, or as soon as a chunked body grows past it.
        max_upload_bytes: largest decoded upload (an image given as base64), in bytes.
        max_pixels: largest uploaded picture, in pixels (JPEGs over it are decoded reduced).
        max_steps: most decoding steps of one target.
        max_targets: most targets of one request.
        max_text_chars: longest caption (or other text) given.
        max_boxes: most boxes given.
        max_jobs: requests running or waiting for the model; one more is answered 503 (busy).
        gallery: scenes of the retrieval index (held-out SynthWorld scenes of ``gallery_seed``).
        gallery_seed: SynthWorld world of the retrieval index.
        max_top_k: most results of one retrieval.
    """

    max_request_bytes: int = 64 * 2**20
    max_upload_bytes: int = 8 * 2**20
    max_pixels: int = 25_000_000
    max_steps: int = 64
    max_targets: int = 12
    max_text_chars: int = 2000
    max_boxes: int = 64
    max_jobs: int = 16
    gallery: int = 100
    gallery_seed: int = 1
    max_top_k: int = 20

    def __post_init__(self) -> None:
        small = [f.name for f in dataclasses.fields(self) if f.name != "gallery_seed" and getattr(self, f.name) < 1]
        if small:
            raise ConfigError(f"serve settings {small} must be >= 1")
