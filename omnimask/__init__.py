"""omnimask: an open implementation of 4M, massively multimodal masked modeling.

One Transformer encoder–decoder is trained to predict a random subset of the discrete tokens of many
modalities (RGB, depth, normals, segmentation, captions, boxes, metadata, ...) from another random
subset, and then generates any modality from any subset of the others.

Importing this package loads only its core dependencies; see ``omnimask --help`` for the commands.
"""

__version__ = "0.1.0"
