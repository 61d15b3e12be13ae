"""``omnimask tokenizer ACTION``: train tokenizers.

Each action is a sub-subcommand registered by one ``_register_*`` function listed in
:data:`ACTIONS`; add new ones (e.g. ``train`` for image tokenizers) there.

* ``train-text`` — train a WordPiece text vocabulary with 4M's special-token layout on a corpus
  (text files, one text per line, and/or SynthWorld captions) and write ``tokenizer.json`` plus its
  card ``config.json`` into ``--out``.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterator
from pathlib import Path


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


#: The ``tokenizer`` actions, in the order ``--help`` lists them.
ACTIONS: dict[str, Callable[[argparse._SubParsersAction], None]] = {
    "train-text": _register_train_text,
}


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``omnimask tokenizer`` and its actions."""
    parser = subparsers.add_parser("tokenizer", help="train tokenizers", description=__doc__.split("\n")[0])
    actions = parser.add_subparsers(dest="tokenizer_action", metavar="ACTION", required=True)
    for add in ACTIONS.values():
        add(actions)


def _synthworld_corpus(n: int, seed: int) -> tuple[Iterator[str], tuple[str, ...]]:
    """Captions of SynthWorld scenes ``0 .. n-1`` of world ``seed`` and its class names (the shapes)."""
    import importlib

    from omnimask.config import ConfigError

    try:
        synthworld = importlib.import_module("omnimask.data.synthworld")
    except ImportError as err:
        raise ConfigError(
            f"--from-synthworld needs omnimask.data.synthworld, which cannot be imported ({err}); "
            "pass caption files with --corpus instead"
        ) from err
    names = tuple(getattr(synthworld, "SHAPES", ()))
    corpus = getattr(synthworld, "caption_corpus", None)  # a fast path, if SynthWorld offers one
    if callable(corpus):
        return iter(corpus(n, seed)), names
    render, config = getattr(synthworld, "render_sample", None), getattr(synthworld, "SynthWorldConfig", None)
    if not (callable(render) and callable(config)):
        raise ConfigError(
            "--from-synthworld: omnimask.data.synthworld provides neither caption_corpus(n, seed) nor "
            "render_sample(seed, index, cfg); pass caption files with --corpus instead"
        )
    cfg = config()
    return (render(seed, i, cfg)["caption"] for i in range(n)), names


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
