"""Loading only the modalities a run needs, and in bf16, from a released checkpoint."""

import torch

from omnimask.batch import ModalityBatch
from omnimask.compat import load_fm
from omnimask.model import Queries


def test_partial_load_keeps_the_numbers_of_the_full_model(reference_fixtures):
    full = load_fm(reference_fixtures / "fm")
    tokens = [n for n, s in full.specs.items() if s.kind == "image_tokens"]
    source = next(n for n in tokens if n in full.input_modalities)
    target = next(n for n in tokens if n in full.output_modalities and n != source)
    part = load_fm(reference_fixtures / "fm", inputs=[source], outputs=[target])
    assert part.input_modalities == [source] and part.output_modalities == [target]
    kept = {f"encoder_embeddings.{source}.", f"decoder_embeddings.{target}.", f"mod_emb.{source}", f"mod_emb.{target}"}
    shared = {k: v for k, v in full.state_dict().items()
              if not k.startswith(("encoder_embeddings.", "decoder_embeddings.", "mod_emb.")) or k.startswith(
                  tuple(kept))}  # fmt: skip
    assert part.state_dict().keys() == shared.keys()
    assert all(torch.equal(part.state_dict()[k], v) for k, v in shared.items())

    spec = full.specs[source]
    ids = torch.randint(0, spec.vocab_size, (1, spec.num_tokens), generator=torch.Generator().manual_seed(0))
    keep = torch.ones(1, spec.num_tokens, dtype=torch.bool)
    batch = {source: ModalityBatch(ids, keep, ~keep)}
    queries = Queries(target, torch.arange(full.specs[target].num_tokens)[None])
    with torch.no_grad():
        a = full.decode(full.encode(batch), queries)
        b = part.decode(part.encode(batch), queries)
    torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_bf16_load_halves_the_parameter_memory(reference_fixtures):
    model = load_fm(reference_fixtures / "fm", dtype=torch.bfloat16)
    assert {p.dtype for p in model.parameters()} == {torch.bfloat16}
