"""Training and measuring omnimask's own map tokenizers (4M section 3.2, on SynthWorld).

* :mod:`~omnimask.training.tokenizers.recipes` — runs as data (one per SynthWorld map);
* :mod:`~omnimask.training.tokenizers.data` — the maps of a split, flips;
* :mod:`~omnimask.training.tokenizers.features` — MiniCLIP features (``clip``, ``clip_global``) and
  their cosine / caption-retrieval metrics;
* :mod:`~omnimask.training.tokenizers.loop` — the loop (``omnimask tokenizer train``);
* :mod:`~omnimask.training.tokenizers.evaluate` — round-trip metrics and reconstruction grids.

The formulas they report (PSNR, depth abs-rel / δ1, normal angle, mIoU, edge F1, recall@k) live in
:mod:`omnimask.metrics`, shared with MiniCLIP training and the evaluation. Import the submodules
directly; this package imports nothing.
"""
