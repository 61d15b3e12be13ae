"""Special token ids of 4M's text vocabulary, shared by masking, text tokenizers and generation.

The released WordPiece vocabulary (and every omnimask text vocabulary) starts with the same special
tokens: ``[PAD]``=0, ``[UNK]``=1, ``[SOS]``=2, ``[EOS]``=3, then 200 sentinels ``[S_0]`` … ``[S_199]``
at ids 4 … 203 (``[S_k]`` = 4 + k). T5-style span masking numbers its sentinels from ``[S_1]``, so a
masked sequence can hold at most 198 dropped runs (run ``n + 1`` is the closing sentinel).
"""

from __future__ import annotations

import numpy as np

PAD_ID = 0
UNK_ID = 1
SOS_ID = 2
EOS_ID = 3
#: Number of sentinel tokens in the vocabulary (``[S_0]`` … ``[S_199]``).
NUM_SENTINELS = 200
#: Id of ``[S_0]``; ``[S_k]`` has id ``SENTINEL_BASE + k``.
SENTINEL_BASE = 4
#: Largest sentinel index span masking may use.
MAX_SENTINEL = NUM_SENTINELS - 1
#: Special tokens in vocabulary order (what a text tokenizer must reserve first).
SPECIAL_TOKENS: tuple[str, ...] = ("[PAD]", "[UNK]", "[SOS]", "[EOS]", *(f"[S_{k}]" for k in range(NUM_SENTINELS)))
#: First id after the special tokens.
NUM_SPECIAL_TOKENS = len(SPECIAL_TOKENS)


def sentinel_id(k: int) -> int:
    """The id of sentinel ``[S_k]`` (0 ≤ k < 200)."""
    if not 0 <= k < NUM_SENTINELS:
        raise ValueError(f"sentinel index {k} is outside [0, {NUM_SENTINELS}); the vocabulary has 200 sentinels")
    return SENTINEL_BASE + k


def is_sentinel(ids: np.ndarray | int) -> np.ndarray | bool:
    """Whether each id is a sentinel ``[S_k]`` (elementwise for arrays)."""
    if isinstance(ids, (int, np.integer)):
        return SENTINEL_BASE <= int(ids) < SENTINEL_BASE + NUM_SENTINELS
    ids = np.asarray(ids)
    return (ids >= SENTINEL_BASE) & (ids < SENTINEL_BASE + NUM_SENTINELS)
