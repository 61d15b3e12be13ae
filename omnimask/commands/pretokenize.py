"""``omnimask pretokenize DATASET --out DIR``: a SynthWorld folder → the token store training reads.

Examples::

    omnimask synth --out data/synth64 --num 10000
    omnimask pretokenize data/synth64 --out data/synth64_tokens
    omnimask train --recipe synth_tiny --set data.source=store --set data.path=data/synth64_tokens

Rerunning the same command resumes it (finished chunks and splits are kept). See
:mod:`omnimask.data.pretokenize` for the output layout.
"""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``pretokenize`` subcommand."""
    p = subparsers.add_parser(
        "pretokenize",
        help="tokenize every modality of a SynthWorld folder into a token store (data.source=store)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("dataset", metavar="DATASET", help="folder written by `omnimask synth`")
    p.add_argument("--out", required=True, metavar="DIR", help="token store folder to write (or resume)")
    p.add_argument("--tokenizers", default="", metavar="BUNDLE",
                   help="tokenizer bundle folder (default: the shipped synthworld64 bundle)")  # fmt: skip
    p.add_argument("--modalities", default="", metavar="A,B",
                   help="model modality names to store, e.g. rgb@64,tok_depth@64,caption (default: rgb@R and "
                        "every SynthWorld modality the bundle covers)")  # fmt: skip
    p.add_argument("--feature-labeler", default="", metavar="NAME[=DIR]",
                   help="feature labeler whose features of the RGB tok_clip / tok_clip_global tokenize, e.g. "
                        "clip=/models/clip-export (default: the shipped MiniCLIP; see `omnimask labeler info`)")
    p.add_argument("--splits", default="train,val,test", metavar="A,B", help="splits to process (default all)")
    p.add_argument("--batch", type=int, default=64, help="samples per tokenizer call (default 64)")
    p.add_argument("--chunk", type=int, default=1024, help="samples per resumable chunk (default 1024)")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Execute ``omnimask pretokenize``; returns the exit code."""
    import time

    import torch

    from omnimask.config import ConfigError
    from omnimask.data.pretokenize import pretokenize_dataset

    if args.batch < 1 or args.chunk < 1:
        raise ConfigError("--batch and --chunk must be >= 1")
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    split_list = [s for s in args.splits.split(",") if s]
    modalities = [m for m in args.modalities.split(",") if m] or None
    labeler = None
    if args.feature_labeler:
        from omnimask.data.labelers.base import FeatureLabeler
        from omnimask.data.labelers.registry import load_labeler

        name, _, path = args.feature_labeler.partition("=")
        try:
            labeler = load_labeler(name, path or None)
        except KeyError as err:
            raise ConfigError(f"--feature-labeler: {err.args[0]}") from None
        if not isinstance(labeler, FeatureLabeler):
            raise ConfigError(f"--feature-labeler {name}: a photo labeler (it writes {list(labeler.writes)}); give a "
                              "feature labeler (miniclip, clip, dinov2, imagebind or one you registered)")
    start = time.perf_counter()
    manifest = pretokenize_dataset(args.dataset, args.out, tokenizers=args.tokenizers or None, modalities=modalities,
                                   splits=split_list, batch=args.batch, chunk=args.chunk,
                                   progress=not args.quiet, feature_labeler=labeler)  # fmt: skip
    counts = ", ".join(f"{k} {v}" for k, v in manifest["splits"].items())
    print(f"pretokenize: {args.out}: {len(manifest['modalities'])} modalities ({', '.join(manifest['modalities'])}); "
          f"{counts}; {time.perf_counter() - start:.1f} s")  # fmt: skip
    for split, lost in manifest.get("skipped", {}).items():
        for item in lost[:10]:
            print(f"  skipped {split} {item['key']}: {item['error']}")
        if lost:
            print(f"  {split}: {len(lost)} sample(s) skipped (unreadable files; listed in {args.out}/manifest.json)")
    return 0
