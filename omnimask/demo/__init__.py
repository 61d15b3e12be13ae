"""``omnimask demo``: the project's main job — a trained SynthWorld 4M shown at work on one HTML page.

:func:`build_demo` loads a model folder (default: the shipped ``synth_small``), makes the figures of
:mod:`omnimask.demo.figures` (RGB → all chained, caption → all, a moving box, a segmentation edit,
a guidance sweep, metadata steering, retrieval), saves each as a labelled PNG and writes
``index.html`` (:mod:`omnimask.demo.page`). Figures the model cannot make become labelled notes;
without any model the page shows the SynthWorld preview (:mod:`omnimask.demo.preview`) and says how
to get one.
"""

from omnimask.demo.build import DemoResult, build_demo, fallback_demo
from omnimask.demo.context import DemoContext, Figure
from omnimask.demo.model import DemoModel

__all__ = ["DemoContext", "DemoModel", "DemoResult", "Figure", "build_demo", "fallback_demo"]
