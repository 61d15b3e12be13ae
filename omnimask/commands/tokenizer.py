"""``omnimask tokenizer ACTION``: train tokenizers and bundle them.

Each action is a sub-subcommand registered by one ``_register_*`` function listed in
:data:`ACTIONS`; add new ones there.

* ``train`` — train a VQ-VAE tokenizer of one SynthWorld map (``--modality depth --recipe synth64``):
  progress bar, reconstruction PNG grids, codebook usage in ``metrics.jsonl``, resumable with
  ``--resume``; the final tokenizer lands in ``OUT/tokenizer`` and its validation metrics in
  ``OUT/metrics.json`` (see :mod:`omnimask.training.tokenizers.loop`).
* ``train-text`` — train a WordPiece text vocabulary with 4M's special-token layout on a corpus
  (text files, one text per line, and/or SynthWorld captions) and write ``tokenizer.json`` plus its
  card ``config.json`` into ``--out``.
* ``bundle`` — assemble trained map tokenizers (and the MiniCLIP feature tokenizers ``clip`` /
  ``clip_global``) and a text vocabulary into a tokenizer bundle for the SynthWorld modalities
  (``manifest.json``; what ``data.tokenizers=DIR`` and ``omnimask pretokenize --tokenizers DIR``
  read), optionally storing the weights in float16; ``--update`` adds to an existing bundle.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterator
from pathlib import Path

from omnimask.commands import register_actions


def _register_train_text(actions: argparse._SubParsersAction) -> None:
    p = actions.add_parser(
        "train-text",
        help="train a 4M-layout WordPiece text vocabulary",
        description=(
            "Train a WordPiece vocabulary with 4M's layout ([PAD] 0, [UNK] 1, [SOS] 2, [EOS] 3, "
            "sentinels [S_k], 4 x BINS coordinate tokens v0=..v3=, then the class names as atomic "
            "tokens, then word pieces) and write OUT/tokenizer.json and OUT/config.json."
        ),
    )
    p.add_argument("--corpus", nargs="+", type=Path, default=[], metavar="FILE",
                   help="text files, one training text per line")  # fmt: skip
    p.add_argument("--from-synthworld", type=int, default=0, metavar="N",
                   help="also train on the captions of N rendered SynthWorld scenes (~0.1 s each)")  # fmt: skip
    p.add_argument("--seed", type=int, default=0, help="seed of the SynthWorld captions (default 0)")
    p.add_argument("--vocab-size", type=int, required=True, help="total vocabulary size (4M: 30000)")
    p.add_argument("--class-names", default=None, metavar="A,B,C",
                   help="comma-separated class names, atomic tokens (default: SynthWorld's shapes with "
                        "--from-synthworld, else none)")  # fmt: skip
    p.add_argument("--num-sentinels", type=int, default=200, help="sentinel tokens (default 200)")
    p.add_argument("--coord-bins", type=int, default=1000, help="values per coordinate axis (default 1000)")
    p.add_argument("--min-frequency", type=int, default=0, help="minimum pair count to merge (default 0)")
    p.add_argument("--out", type=Path, required=True, metavar="DIR", help="output directory")
    p.set_defaults(func=_train_text)


def _register_train(actions: argparse._SubParsersAction) -> None:
    p = actions.add_parser(
        "train",
        help="train a VQ-VAE tokenizer of one SynthWorld map",
        description=(
            "Train a ViT VQ-VAE tokenizer of one SynthWorld map (rgb, depth, normal, semseg, edges), or of "
            "MiniCLIP's patch features (clip) / global embedding (clip_global, an MLP VQ-VAE), from a recipe. "
            "Writes OUT/metrics.jsonl, OUT/samples/*.png, OUT/checkpoint (resumable), and at the end "
            "OUT/tokenizer and OUT/metrics.json (validation metrics)."
        ),
    )
    p.add_argument("--modality", required=True, metavar="M",
                   help="rgb, depth, normal, semseg, edges, clip or clip_global")  # fmt: skip
    p.add_argument("--recipe", default="synth64", metavar="R",
                   help="recipe name (default synth64; tiny for a smoke run)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="change a recipe field, e.g. steps=500, data.path=data/synth64, model.encoder.dim=64")
    p.add_argument("--out", type=Path, default=None, metavar="DIR",
                   help="output folder (default runs/tokenizers/RECIPE_MODALITY)")
    p.add_argument("--resume", action="store_true", help="continue the run saved in --out")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_train)


def _register_bundle(actions: argparse._SubParsersAction) -> None:
    p = actions.add_parser(
        "bundle",
        help="assemble trained tokenizers into a SynthWorld tokenizer bundle",
        description=(
            "Write a tokenizer bundle (manifest.json + one folder per tokenizer) for the SynthWorld modalities "
            "from trained map tokenizers (tokenizer train output folders) and a text vocabulary (train-text output)."
        ),
    )
    p.add_argument("--map", dest="maps", action="append", default=[], metavar="KIND=DIR",
                   help="a map tokenizer: KIND in rgb, depth, normal, semseg, edges, clip, clip_global; DIR a "
                        "train --out folder or its tokenizer/ folder (repeat per map)")  # fmt: skip
    p.add_argument("--resolution", type=int, default=0, metavar="R",
                   help="image size the clip tokens are named for (tok_clip@R; default: the maps' size, else 64)")
    p.add_argument("--update", action="store_true",
                   help="--out is an existing bundle: keep its tokenizers, add (or replace) the given ones")
    p.add_argument("--text", type=Path, default=None, metavar="DIR", help="text vocabulary folder (train-text --out)")
    p.add_argument("--dtype", default="float16", choices=("float32", "float16"),
                   help="storage dtype of the map tokenizers' weights (default float16; loading casts to float32)")
    p.add_argument("--out", type=Path, required=True, metavar="DIR", help="bundle folder to write")
    p.set_defaults(func=_bundle)


#: The ``tokenizer`` actions, in the order ``--help`` lists them.
ACTIONS: dict[str, Callable[[argparse._SubParsersAction], None]] = {
    "train": _register_train,
    "train-text": _register_train_text,
    "bundle": _register_bundle,
}


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``omnimask tokenizer`` and its actions."""
    register_actions(subparsers, "tokenizer", "train tokenizers", __doc__.split("\n")[0], ACTIONS)


def _synthworld_corpus(n: int, seed: int) -> tuple[Iterator[str], tuple[str, ...]]:
    """Captions of SynthWorld scenes ``0 .. n-1`` of world ``seed`` and its class names (the shapes)."""
    from omnimask.data.synthworld import SHAPES, caption_corpus

    return caption_corpus(n, seed), SHAPES


def _train_text(args: argparse.Namespace) -> int:
    import itertools
    import sys

    from omnimask.config import ConfigError
    from omnimask.tokenizers.text import TextLayoutError, train_text_tokenizer

    if not args.corpus and args.from_synthworld <= 0:
        raise ConfigError("no training text: give --corpus FILE [FILE ...] and/or --from-synthworld N")
    missing = [str(f) for f in args.corpus if not f.is_file()]
    if missing:
        raise ConfigError(f"--corpus: no such file(s): {', '.join(missing)}")
    sources: list[Iterator[str]] = []
    class_names: tuple[str, ...] = ()
    if args.from_synthworld > 0:
        captions, class_names = _synthworld_corpus(args.from_synthworld, args.seed)
        sources.append(captions)
    if args.class_names is not None:
        class_names = tuple(c.strip() for c in args.class_names.split(",") if c.strip())

    def lines(path: Path) -> Iterator[str]:
        with path.open(encoding="utf-8") as f:
            yield from (line.rstrip("\n") for line in f if line.strip())

    sources += [lines(f) for f in args.corpus]
    sources.append(iter(class_names))  # the class names' words are part of the corpus too
    n_texts = 0

    def corpus() -> Iterator[str]:
        nonlocal n_texts
        for text in itertools.chain(*sources):
            n_texts += 1
            yield text

    print(
        f"omnimask tokenizer train-text: training WordPiece (vocab_size {args.vocab_size}, "
        f"{len(class_names)} class names) on {len(args.corpus)} file(s)"
        + (f" + {args.from_synthworld} SynthWorld captions" if args.from_synthworld > 0 else ""),
        flush=True,
    )
    try:
        tok = train_text_tokenizer(
            corpus(),
            args.vocab_size,
            class_names,
            num_sentinels=args.num_sentinels,
            coord_bins=args.coord_bins,
            min_frequency=args.min_frequency,
            show_progress=sys.stderr.isatty(),
        )
    except TextLayoutError as err:
        raise ConfigError(str(err)) from err
    training = {
        "texts": n_texts,
        "corpus_files": [str(f) for f in args.corpus],
        "synthworld_captions": args.from_synthworld,
        "seed": args.seed,
        "requested_vocab_size": args.vocab_size,
        "min_frequency": args.min_frequency,
    }
    out = tok.save_pretrained(args.out, training=training)
    print(
        f"wrote {out / 'tokenizer.json'} and {out / 'config.json'}: vocab_size {tok.vocab_size} "
        f"({tok.vocab_size - tok.layout.first_wordpiece_id} word pieces from id "
        f"{tok.layout.first_wordpiece_id}) from {n_texts} texts",
        flush=True,
    )
    return 0


def _train(args: argparse.Namespace) -> int:
    import json

    from omnimask.config import apply_overrides
    from omnimask.training.tokenizers.loop import train_tokenizer
    from omnimask.training.tokenizers.recipes import tokenizer_recipe

    cfg = apply_overrides(tokenizer_recipe(args.recipe, args.modality), args.overrides)
    out = args.out or Path("runs/tokenizers") / f"{args.recipe}_{args.modality}"
    print(f"omnimask tokenizer train: {args.modality} with recipe {args.recipe} ({cfg.steps} steps) -> {out}",
          flush=True)  # fmt: skip
    result = train_tokenizer(cfg, out, resume=args.resume, progress=not args.quiet)
    val = {k: round(v, 4) for k, v in result["val"].items() if isinstance(v, float)}
    print(f"{args.modality}: {result['steps']} steps in {result['train_seconds']:.0f} s; validation "
          f"({result['val']['samples']} maps): {json.dumps(val)}")  # fmt: skip
    print(f"wrote {out / 'tokenizer'} and {out / 'metrics.json'}")
    return 0


def _bundle(args: argparse.Namespace) -> int:
    import shutil

    from omnimask.config import ConfigError
    from omnimask.modalities import SYNTH_IMAGE_MODALITIES, SYNTH_SEQUENCE_MODALITIES
    from omnimask.tokenizers.base import ModalityTokenizer
    from omnimask.tokenizers.bundle import load_tokenizers, save_tokenizers
    from omnimask.tokenizers.entries import CardMapTokenizer, SequenceTokenizer
    from omnimask.tokenizers.text import TextTokenizer
    from omnimask.training.tokenizers.features import FEATURE_KINDS

    kinds = [*SYNTH_IMAGE_MODALITIES, *FEATURE_KINDS]
    if not args.maps and args.text is None:
        raise ConfigError("nothing to bundle: give --map KIND=DIR (repeatable) and/or --text DIR")
    if args.out.exists() and any(args.out.iterdir()) and not args.update:
        raise ConfigError(f"--out {args.out} is not empty; choose a new folder, or pass --update to add to it")
    tokenizers: dict = load_tokenizers(args.out) if args.update and args.out.exists() else {}
    loaded: dict = {}
    for item in args.maps:
        kind, sep, folder = item.partition("=")
        if not sep or kind not in kinds:
            raise ConfigError(f"--map {item!r}: expected KIND=DIR with KIND in {kinds}")
        path = Path(folder)
        path = path / "tokenizer" if (path / "tokenizer").is_dir() else path
        if not (path / "config.json").is_file():
            raise ConfigError(f"--map {item!r}: no tokenizer in {path} (expected config.json + model.safetensors)")
        loaded[kind] = ModalityTokenizer.load(path)
        if kind not in FEATURE_KINDS and loaded[kind].card.image_size is None:
            raise ConfigError(f"--map {item!r}: {path} is not an image tokenizer")
    sizes = {t.card.image_size[0] for k, t in loaded.items() if k not in FEATURE_KINDS}
    resolution = args.resolution or (min(sizes) if sizes else 64)
    names = {"clip": f"tok_clip@{resolution}", "clip_global": "tok_clip_global"}
    for kind, tok in loaded.items():
        name = names.get(kind) or f"tok_{kind}@{tok.card.image_size[0]}"
        tokenizers[name] = CardMapTokenizer(kind, tok, dtype=args.dtype)
        shutil.rmtree(args.out / kind, ignore_errors=True)  # --update replaces a tokenizer of the same kind
    if args.text is not None:
        text = TextTokenizer.from_file(args.text)
        tokenizers.update({name: SequenceTokenizer(name, text) for name in SYNTH_SEQUENCE_MODALITIES})
    save_tokenizers(tokenizers, args.out)
    print(f"wrote the tokenizer bundle {args.out}: {', '.join(tokenizers)}")
    return 0
