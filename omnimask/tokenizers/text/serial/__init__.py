"""Serialisers and tolerant parsers for 4M's structured sequence modalities, in 4M's text formats.

Each modality has ``serialize_*`` (structured data -> the exact text 4M tokenizes) and ``parse_*``
(text, e.g. decoded model output -> :class:`ParseResult` of items plus warnings; never raises).
"""

from omnimask.tokenizers.text.serial.detection import Box, parse_det, serialize_det
from omnimask.tokenizers.text.serial.metadata import (
    FOURM_METADATA_FIELDS,
    MetadataEntry,
    MetadataField,
    metadata_chunks,
    metadata_values,
    parse_metadata,
    serialize_metadata,
)
from omnimask.tokenizers.text.serial.palette import parse_palette, serialize_palette
from omnimask.tokenizers.text.serial.parsing import ParseResult
from omnimask.tokenizers.text.serial.poses import HumanPose, parse_poses, serialize_poses
from omnimask.tokenizers.text.serial.sam import SamInstance, SamQuery, parse_sam, serialize_sam

__all__ = [
    "FOURM_METADATA_FIELDS",
    "Box",
    "HumanPose",
    "MetadataEntry",
    "MetadataField",
    "ParseResult",
    "SamInstance",
    "SamQuery",
    "metadata_chunks",
    "metadata_values",
    "parse_det",
    "parse_metadata",
    "parse_palette",
    "parse_poses",
    "parse_sam",
    "serialize_det",
    "serialize_metadata",
    "serialize_palette",
    "serialize_poses",
    "serialize_sam",
]
