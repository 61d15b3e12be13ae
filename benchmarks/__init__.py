"""Benchmarks: run each as a module from the repository root, e.g. ``python -m benchmarks.train_throughput``.

(Run as modules, not as ``python benchmarks/x.py``: ``benchmarks/tokenizers.py`` would otherwise shadow the
``tokenizers`` library on ``sys.path``.)
"""
