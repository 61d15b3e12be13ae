"""``omnimask export``: a trained checkpoint as a small inference folder (half-precision weights, shared
tokenizers; LoRA adapters merged), or with ``--encoder`` its encoder alone as a ``torch.export`` program
(``encoder.pt2`` + ``encoder.json``, the shape contract) that runs with nothing but torch."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export",
        help="write the inference copy of a trained model (float16 weights, config, tokenizers)",
        description="Copy a training checkpoint's model.safetensors (cast to --dtype), config.json and "
        "tokenizers/ into --out. Tokenizer folders identical to the shipped SynthWorld bundle are referenced "
        "(shipped:synthworld64/...) instead of copied. How the shipped synth_small model was made.",
    )
    p.add_argument("checkpoint", help="model folder, e.g. runs/synth_small/checkpoint")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--dtype", default="float16", choices=["float16", "bfloat16", "float32"],
                   help="storage dtype of the weights (default float16; loading casts to float32)")
    p.add_argument("--copy-tokenizers", action="store_true",
                   help="copy every tokenizer, even those identical to the shipped bundle")
    p.add_argument("--encoder", action="store_true",
                   help="export the encoder alone: RGB pixels (or one token grid) -> (B, N, D) features")
    p.add_argument("--modality", default=None, help="with --encoder: the input (default: the RGB pixel input)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from omnimask.loading import export_encoder, export_model

    if args.encoder:
        out = export_encoder(args.checkpoint, args.out, args.modality)
        print(f"export: encoder of {args.checkpoint} -> {out}/encoder.pt2 (contract: {out}/encoder.json)")
        return 0
    out = export_model(args.checkpoint, args.out, dtype=args.dtype,
                       shipped=None if args.copy_tokenizers else "synthworld64")
    size = sum(p.stat().st_size for p in Path(out).rglob("*") if p.is_file())
    print(f"export: {args.checkpoint} -> {out} ({size / 2**20:.1f} MB, weights in {args.dtype})")
    return 0
