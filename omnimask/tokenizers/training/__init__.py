"""Training and measuring omnimask's own map tokenizers (4M section 3.2, on SynthWorld).

* :mod:`~omnimask.tokenizers.training.recipes` — runs as data (one per SynthWorld map);
* :mod:`~omnimask.tokenizers.training.data` — the maps of a split, flips;
* :mod:`~omnimask.tokenizers.training.features` — MiniCLIP features (``clip``, ``clip_global``) and
  their cosine / caption-retrieval metrics;
* :mod:`~omnimask.tokenizers.training.loop` — the loop (``omnimask tokenizer train``);
* :mod:`~omnimask.tokenizers.training.evaluate` — round-trip metrics and reconstruction grids;
* :mod:`~omnimask.tokenizers.training.metrics` — PSNR, depth abs-rel / δ1, normal angle, mIoU, edge F1.

Import the submodules directly; this package imports nothing so that ``metrics`` stays light.
"""
