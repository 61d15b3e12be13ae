"""``omnimask label``: a folder of your photos → a labelled dataset in ``omnimask synth``'s layout.

Examples::

    omnimask label ~/photos --out data/photos64
    omnimask label ~/photos --out data/photos64 --labelers metadata,color_palette,canny,faces,synth_small
    omnimask label ~/photos --out data/photos64 --labelers metadata,dpt_depth --labeler-path dpt_depth=/models/dpt

then ``omnimask pretokenize data/photos64 --out data/photos64_tokens`` and train or fine-tune on
``data.source=store``. Every JPEG / PNG / WebP / BMP / TIFF / GIF under the folder is read (EXIF
orientation applied, any mode converted to 8-bit RGB), center-cropped and resized to
``--resolution``; unreadable files are skipped and listed in ``OUT/report.json``. Rerunning resumes.
``--list`` prints the labelers and what each writes (``synth_small`` is a stand-in: the shipped
SynthWorld model predicting depth, normals and semseg).
"""

from __future__ import annotations

import argparse

DEFAULT_LABELERS = "metadata,color_palette,canny"


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``label`` subcommand."""
    p = sub.add_parser("label", help="label a folder of photos into a dataset (metadata, palette, edges, ...)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("images", nargs="?", help="folder of photos (searched recursively)")
    p.add_argument("--out", help="dataset folder to write (or resume)")
    p.add_argument("--labelers", default=DEFAULT_LABELERS, help=f"comma-separated (default {DEFAULT_LABELERS})")
    p.add_argument("--labeler-path", action="append", default=[], metavar="NAME=DIR",
                   help="local weights folder of a labeler (repeatable)")
    p.add_argument("--resolution", type=int, default=64, help="square side in pixels (default 64)")
    p.add_argument("--workers", type=int, default=2, help="threads decoding images (default 2)")
    p.add_argument("--list", action="store_true", help="print the labelers and exit")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import omnimask.generation.standin  # noqa: F401  (registers the synth_small stand-in)
    from omnimask.config import ConfigError
    from omnimask.data.labelers.registry import FEATURE_LABELERS, available_labelers, load_image_labeler
    from omnimask.data.labelling import label_folder

    if args.list:
        for name in available_labelers():
            if name not in FEATURE_LABELERS:
                print(name)
        print(f"(feature labelers {', '.join(FEATURE_LABELERS)}: their features are computed from the RGB when "
              "pre-tokenizing, `omnimask pretokenize --feature-labeler NAME[=DIR]`; MiniCLIP is the default)")
        return 0
    if not args.images or not args.out:
        raise ConfigError("give IMAGES_DIR and --out DIR (--list shows the labelers)")
    paths = {}
    for item in args.labeler_path:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise ConfigError(f"--labeler-path {item!r}: write NAME=DIR")
        paths[name] = path
    names = [n.strip() for n in args.labelers.split(",") if n.strip()]
    unknown = sorted(set(names) - set(available_labelers())) + sorted(set(paths) - set(names))
    if unknown:
        raise ConfigError(f"--labelers / --labeler-path: unknown or unused {unknown}; labelers: {available_labelers()}")
    labelers = [load_image_labeler(n, paths.get(n)) for n in names]
    report = label_folder(args.images, args.out, labelers, resolution=args.resolution, workers=args.workers,
                          progress=not args.quiet)
    print(f"label: {report['images']} images, {report['labelled_now']} labelled now, {len(report['skipped'])} "
          f"skipped (see {args.out}/report.json); splits {report['splits']}")
    for name, stats in report["labelers"].items():
        rate = f"{stats['images_per_s']} images/s" if stats["images_per_s"] else "-"
        print(f"  {name:14s} {stats['images']:6d} images  {rate}")
    for item in report["skipped"][:10]:
        print(f"  skipped {item['file']}: {item['reason']}")
    return 0
