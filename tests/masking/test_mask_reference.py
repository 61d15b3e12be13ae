"""The official masking's output (reference fixtures) obeys our layout, budgets and span-merge rules.

The forward cases of ``reference-4m`` hold batches masked by the released ``UnifiedMasking`` with the
``mix_mod7_all2all_rgb2all_a0.5`` mixture. Converting their masks to our polarity (True = keep), every
sequence must unpack with :func:`unpack_sequence`, its target must start at the recorded input budget,
and uncut targets must merge back into the tokenised caption / detection string + ``[EOS]``.
"""

import json

import numpy as np
import pytest
from reference_paths import FIXTURES

from omnimask.masking import EOS_ID, is_sentinel, merge_spans, sentinel_id, unpack_sequence

pytestmark = pytest.mark.skipif(not (FIXTURES / "cases").is_dir(), reason=f"reference fixtures not found at {FIXTURES}")


def _cases():
    for path in sorted((FIXTURES / "cases").glob("forward_*.json")):
        yield json.loads(path.read_text()), np.load(path.with_suffix(".npz"))


def test_reference_sequences_follow_our_layout_and_merge_rules():
    tokenizers = pytest.importorskip("tokenizers")
    text = tokenizers.Tokenizer.from_file(str(FIXTURES / "text_tokenizer.json"))
    merged = 0
    for meta, arrays in _cases():
        order = meta["masking"]["modality_order"]
        for name in ("caption", "det"):
            j = order.index(name)
            tensor = arrays[f"in.{name}.tensor"]
            input_keep, target_keep = ~arrays[f"in.{name}.input_mask"], ~arrays[f"in.{name}.target_mask"]
            for b, sample in enumerate(meta["samples"]):
                budget_in, budget_tgt = sample["input_budget"][j], sample["target_budget"][j]
                inp, tgt = unpack_sequence(tensor[b], input_keep[b], target_keep[b])
                assert np.flatnonzero(input_keep[b]).tolist() == list(range(len(inp)))
                assert np.flatnonzero(target_keep[b]).tolist() == list(range(budget_in, budget_in + len(tgt)))
                assert len(inp) <= budget_in and len(tgt) <= budget_tgt
                if len(tgt):
                    assert is_sentinel(tgt[0])
                original = [*text.encode(sample["raw_text"][name]).ids, EOS_ID]
                runs = int(is_sentinel(inp).sum())
                if budget_in == 0:
                    assert len(inp) == 0
                    runs = 1  # everything is one dropped run
                complete = len(tgt) and tgt[0] == sentinel_id(1) and tgt[-1] == sentinel_id(runs + 1)
                if complete:
                    assert merge_spans(inp if budget_in else [sentinel_id(1)], tgt).tolist() == original
                    merged += 1
                elif len(inp):
                    partial = merge_spans(inp, tgt, missing="drop").tolist()
                    assert all(t in original for t in partial)
    assert merged >= 4  # the cases contain several uncut targets
