"""omnimask: an open implementation of 4M, massively multimodal masked modeling.

One Transformer encoder–decoder is trained to predict a random subset of the discrete tokens of many
modalities (RGB, depth, normals, segmentation, captions, boxes, metadata, ...) from another random
subset, and then generates any modality from any subset of the others.

Importing this package loads only its core dependencies; see ``omnimask --help`` for the commands.
"""

from typing import Any

__version__ = "0.1.0"


def load(path: Any, **kwargs: Any) -> Any:
    """Load any checkpoint omnimask understands (model, released 4M model, tokenizer, bundle).

    See :mod:`omnimask.loading`; imported on first use so that ``import omnimask`` stays light.
    """
    from omnimask.loading import load as _load

    return _load(path, **kwargs)
