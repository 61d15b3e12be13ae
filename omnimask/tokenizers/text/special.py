"""Special tokens of 4M's text vocabulary, said once: used by the text tokenizer, masking and generation.

The released WordPiece vocabulary (and every omnimask text vocabulary) starts with the same special
tokens: ``[PAD]``=0, ``[UNK]``=1, ``[SOS]``=2, ``[EOS]``=3, then 200 sentinels ``[S_0]`` … ``[S_199]``
at ids 4 … 203 (``[S_k]`` = 4 + k). T5-style span masking numbers its sentinels from ``[S_1]``, so a
masked sequence can hold at most 198 dropped runs (run ``n + 1`` is the closing sentinel).
"""

from __future__ import annotations

import re

import numpy as np

PAD = "[PAD]"
UNK = "[UNK]"
SOS = "[SOS]"
EOS = "[EOS]"
#: The control tokens in id order (``[PAD]`` = 0 … ``[EOS]`` = 3).
CONTROL_TOKENS: tuple[str, ...] = (PAD, UNK, SOS, EOS)
PAD_ID, UNK_ID, SOS_ID, EOS_ID = range(len(CONTROL_TOKENS))
#: Number of sentinel tokens in the vocabulary (``[S_0]`` … ``[S_199]``).
NUM_SENTINELS = 200
#: Id of ``[S_0]``; ``[S_k]`` has id ``SENTINEL_BASE + k``.
SENTINEL_BASE = len(CONTROL_TOKENS)
#: Largest sentinel index span masking may use.
MAX_SENTINEL = NUM_SENTINELS - 1


def sentinel_token(k: int) -> str:
    """The text of sentinel ``k``: ``[S_k]``."""
    return f"[S_{k}]"


#: Matches the text of a sentinel; group 1 is its index.
SENTINEL_RE = re.compile(r"^\[S_(\d+)\]$")


#: Special tokens in vocabulary order (what a text tokenizer must reserve first).
SPECIAL_TOKENS: tuple[str, ...] = (*CONTROL_TOKENS, *(sentinel_token(k) for k in range(NUM_SENTINELS)))
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
