"""Test doubles of the evaluation tests: a lossless map tokenizer, a global-embedding tokenizer and an
image–text labeler, each tiny and deterministic."""

from __future__ import annotations

import numpy as np
import torch

#: Architecture of the tiny test models.
ARCH = {"size": None, "dim": 32, "encoder_depth": 1, "decoder_depth": 1, "num_heads": 2}
#: Name of the global-embedding modality of the test model.
GLOBAL_NAME = "tok_clip_global"


class PerfectMapTokenizer:
    """A lossless stand-in: remembers every map it tokenizes and returns it on detokenize."""

    vocab_size = 1 << 30  # its ids are indices into its memory

    def __init__(self) -> None:
        self.memory: list[np.ndarray] = []

    def tokenize(self, raw: np.ndarray) -> torch.Tensor:
        ids = torch.zeros(len(raw), 16, dtype=torch.long)
        for i, m in enumerate(raw):
            ids[i, 0] = len(self.memory)
            self.memory.append(np.array(m))
        return ids

    def detokenize(self, ids: torch.Tensor, grid=None) -> np.ndarray:
        return np.stack([self.memory[int(i) % len(self.memory)] for i in ids[:, 0]])  # generated ids: any map


class FakeGlobalTokenizer:
    """(B, E) embeddings ↔ (B, 2) ids: each id is the sign pattern of two coordinates (a 4-bit code)."""

    vocab_size = 16

    def tokenize(self, raw: np.ndarray) -> torch.Tensor:
        bits = (np.asarray(raw) > 0).astype(np.int64)  # (B, 4)
        return torch.from_numpy(np.stack([bits[:, 0] + 2 * bits[:, 1], bits[:, 2] + 2 * bits[:, 3]], 1))

    def detokenize(self, ids: torch.Tensor, grid=None) -> np.ndarray:
        ids = ids.numpy()
        bits = np.stack([ids[:, 0] % 2, ids[:, 0] // 2 % 2, ids[:, 1] % 2, ids[:, 1] // 2 % 2], 1)
        return (bits * 2 - 1).astype(np.float32)


class FakeLabeler:
    """Image / text embeddings from simple statistics, in one 4-d space (deterministic)."""

    def global_embedding(self, rgb: np.ndarray) -> torch.Tensor:
        x = np.asarray(rgb, np.float32).reshape(len(rgb), -1, 3).mean(1) / 255.0  # (B, 3) mean colour
        return torch.from_numpy(np.concatenate([x - 0.5, x[:, :1] - x[:, 2:]], 1))

    def encode_text(self, captions: list[str]) -> torch.Tensor:
        return torch.tensor([[len(c) % 7 - 3.0, c.count("e") - 5.0, c.count("a") - 4.0, 1.0] for c in captions])
