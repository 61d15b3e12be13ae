"""``omnimask convert``: write a released 4M model or tokenizer as a native omnimask checkpoint."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "convert",
        help="convert a released 4M model or tokenizer into an omnimask checkpoint",
        description="Read a released 4M checkpoint (a folder with config.json + model.safetensors, or the "
        "single .safetensors file) and write it as an omnimask checkpoint folder (model.safetensors + "
        "config.json), loadable with omnimask.load or FourM.from_pretrained.",
    )
    p.add_argument("source", help="released model or tokenizer (folder or .safetensors)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--inputs", help="comma-separated input modalities to keep (models; default: all)")
    p.add_argument("--outputs", help="comma-separated output modalities to keep (models; default: all)")
    p.add_argument("--modality", help="tokenizers: the raw modality (rgb, depth, normal, ...) for the card")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from omnimask.config import ConfigError
    from omnimask.loading import detect, load

    kind = detect(args.source)
    if kind == "released_model":
        split = {k: getattr(args, k).split(",") for k in ("inputs", "outputs") if getattr(args, k)}
        model = load(args.source, **split)
        model.save_pretrained(args.out)
        print(f"convert: 4M model -> {args.out} ({sum(p.numel() for p in model.parameters()):,} parameters, "
              f"inputs {model.input_modalities}, outputs {model.output_modalities})")
    elif kind == "released_tokenizer":
        tokenizer = load(args.source, **({"modality": args.modality} if args.modality else {}))
        tokenizer.save(args.out)
        print(f"convert: 4M tokenizer -> {args.out} (codebook {tokenizer.card.codebook_size})")
    else:
        raise ConfigError(f"{args.source} is already an omnimask {kind.replace('_', ' ')}, nothing to convert; use it "
                          "as it is, or give a released 4M model or tokenizer")
    return 0
