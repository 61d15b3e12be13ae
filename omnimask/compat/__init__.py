"""Reading the released ml-4m checkpoints and data formats into omnimask's modules.

The released 4M uses the opposite mask polarity (True = not used); the conversion lives here alone.
"""

from omnimask.compat.fm import batch_from_reference, batch_to_reference, load_fm, read_fm_checkpoint
from omnimask.compat.safetensors_meta import parse_metadata_value, read_metadata_config
from omnimask.compat.tokenizers import load_released_tokenizer, register_presets

__all__ = [
    "batch_from_reference",
    "batch_to_reference",
    "load_fm",
    "load_released_tokenizer",
    "parse_metadata_value",
    "read_fm_checkpoint",
    "read_metadata_config",
    "register_presets",
]
