"""4M's multimodal masking: token budgets, image / sequence span / chunk masking, collation to a Batch.

Typical use (one Masker per DataLoader worker, one Generator per sample for reproducibility)::

    from omnimask.masking import MaskingConfig, Masker, all2all, rgb2all, combine_mixtures, collate
    mods = list(specs)
    cfg = MaskingConfig(num_input_tokens=128, num_target_tokens=128,
                        mixture=combine_mixtures([rgb2all(0.5, mods), all2all(0.5, mods, input_only=["rgb@224"])]))
    masker = Masker(specs, cfg)
    batch = collate([masker(sample, np.random.default_rng([seed, index])) for index, sample in ...], specs)

Released 4M alpha-mixture YAMLs load with :func:`load_alpha_mixture` (or ``MaskingConfig.mixture_path``).
Masks mean True = keep.
"""

from omnimask.masking.budgets import Budgets, dirichlet_split, draw_budgets
from omnimask.masking.collate import collate
from omnimask.masking.image import position_masks
from omnimask.masking.masked import MaskedModality
from omnimask.masking.masker import Masker, MaskingConfig, WholeInputs, check_budgets, mask_sample
from omnimask.masking.metadata import is_chunked, prepare_chunks, split_chunks
from omnimask.masking.mixture import (
    KEEP_SCHEMES,
    AlphaMixture,
    KeepScheme,
    ModalityAlphas,
    all2all,
    combine_mixtures,
    load_alpha_mixture,
    one_way,
    parse_alpha_mixture,
    rgb2all,
    save_alpha_mixture,
)
from omnimask.masking.sequence import (
    cut_target,
    draw_keep_prob,
    input_length,
    layout_sequence,
    merge_spans,
    prepare_sequence,
    sequence_length,
    span_corrupt,
    span_mask,
    unpack_sequence,
)
from omnimask.tokenizers.text.special import (
    EOS_ID,
    MAX_SENTINEL,
    NUM_SENTINELS,
    NUM_SPECIAL_TOKENS,
    PAD_ID,
    SENTINEL_BASE,
    SOS_ID,
    SPECIAL_TOKENS,
    UNK_ID,
    is_sentinel,
    sentinel_id,
)

__all__ = [
    "EOS_ID",
    "KEEP_SCHEMES",
    "MAX_SENTINEL",
    "NUM_SENTINELS",
    "NUM_SPECIAL_TOKENS",
    "PAD_ID",
    "SENTINEL_BASE",
    "SOS_ID",
    "SPECIAL_TOKENS",
    "UNK_ID",
    "AlphaMixture",
    "Budgets",
    "KeepScheme",
    "MaskedModality",
    "Masker",
    "MaskingConfig",
    "ModalityAlphas",
    "WholeInputs",
    "all2all",
    "check_budgets",
    "collate",
    "combine_mixtures",
    "cut_target",
    "dirichlet_split",
    "draw_budgets",
    "draw_keep_prob",
    "input_length",
    "is_chunked",
    "is_sentinel",
    "layout_sequence",
    "load_alpha_mixture",
    "mask_sample",
    "merge_spans",
    "one_way",
    "parse_alpha_mixture",
    "position_masks",
    "prepare_chunks",
    "prepare_sequence",
    "rgb2all",
    "save_alpha_mixture",
    "sentinel_id",
    "sequence_length",
    "span_corrupt",
    "span_mask",
    "split_chunks",
    "unpack_sequence",
]
