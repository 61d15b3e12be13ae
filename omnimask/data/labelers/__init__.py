"""Labelers: frozen networks that turn RGB into modalities, the way 4M pseudo-labels its data.

So far: *feature labelers* (:mod:`.base`) — networks whose patch features and pooled embedding
become a feature-map modality (``tok_clip@…``) and a global one (``tok_clip_global``). omnimask
ships MiniCLIP (:mod:`.miniclip`, trained by :mod:`omnimask.training.miniclip`), a CLIP in miniature
trained on SynthWorld, as the stand-in for CLIP / DINOv2 / ImageBind; real networks plug in through
:mod:`.registry` by name and a local weights path.
"""

from omnimask.data.labelers.base import FeatureLabeler, LabelerInputError, TextAlignedLabeler, as_rgb_batch
from omnimask.data.labelers.miniclip import MiniClip, MiniClipConfig, contrastive_loss
from omnimask.data.labelers.miniclip_labeler import MiniClipCard, MiniClipLabeler, load_miniclip, save_miniclip
from omnimask.data.labelers.wordvocab import WordVocab

__all__ = [
    "FeatureLabeler",
    "LabelerInputError",
    "MiniClip",
    "MiniClipCard",
    "MiniClipConfig",
    "MiniClipLabeler",
    "TextAlignedLabeler",
    "WordVocab",
    "as_rgb_batch",
    "contrastive_loss",
    "load_miniclip",
    "save_miniclip",
]
