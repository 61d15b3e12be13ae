"""Loading only the modalities a run needs, and in bf16, from a released checkpoint."""

import torch

from omnimask.batch import ModalityBatch
from omnimask.compat import load_fm
from omnimask.model import Queries


def test_partial_load_keeps_the_numbers_of_the_full_model(reference_fixtures):
    full = load_fm(reference_fixtures / "fm")
    part = load_fm(reference_fixtures / "fm", inputs=["tok_rgb@224"], outputs=["tok_depth@224"])
    assert sum(p.numel() for p in part.parameters()) < 0.3 * sum(p.numel() for p in full.parameters())
    assert part.input_modalities == ["tok_rgb@224"] and part.output_modalities == ["tok_depth@224"]

    ids = torch.randint(0, 1024, (1, 196), generator=torch.Generator().manual_seed(0))
    keep, none = torch.ones(1, 196, dtype=torch.bool), torch.zeros(1, 196, dtype=torch.bool)
    batch = {"tok_rgb@224": ModalityBatch(ids, keep, none)}
    queries = Queries("tok_depth@224", torch.arange(196)[None])
    with torch.no_grad():
        a = full.decode(full.encode(batch), queries)
        b = part.decode(part.encode(batch), queries)
    torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_bf16_load_halves_the_parameter_memory(reference_fixtures):
    model = load_fm(reference_fixtures / "fm", dtype=torch.bfloat16)
    assert {p.dtype for p in model.parameters()} == {torch.bfloat16}
