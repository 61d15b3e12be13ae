"""Data: where training samples come from before they are tokenized.

``omnimask.data.synthworld`` is the embedded procedural world whose every modality is exact; later
modules add sources of real images, labelers and pre-tokenized shards. Subpackages are imported on
demand so that ``import omnimask.data`` stays cheap.
"""
