"""Any-to-any generation with 4M: plans, strategies (MaskGIT, ROAR, KV-cached autoregression),
classifier-free and weighted multi-condition guidance, and the sampler.

Typical use::

    from omnimask.generation import Sampler, plan
    p = plan(["rgb@224"], ["tok_depth@224", "caption"], model.specs, preset="fast")
    result = Sampler(model).generate(conditions, p, seed=0)

``conditions`` is a :data:`~omnimask.batch.Batch`; :mod:`omnimask.generation.conditions` builds one
from raw inputs through tokenizers, and :mod:`omnimask.generation.render` turns results into files.
"""

from omnimask.generation.guidance import Guidance, Logits
from omnimask.generation.plan import PRESETS, Iteration, Plan, Step, plan
from omnimask.generation.plan_io import (
    load_plan,
    plan_from_mapping,
    plan_from_released_settings,
    plan_from_schedule,
    plan_to_dict,
    plan_to_schedule,
    save_plan,
)
from omnimask.generation.predictor import ModelRunner
from omnimask.generation.sampler import Generation, GenerationStep, Quirks, Sampler
from omnimask.generation.strategies import STRATEGIES, StepRecord

__all__ = [
    "PRESETS",
    "STRATEGIES",
    "Generation",
    "GenerationStep",
    "Guidance",
    "Iteration",
    "Logits",
    "ModelRunner",
    "Plan",
    "Quirks",
    "Sampler",
    "Step",
    "StepRecord",
    "load_plan",
    "plan",
    "plan_from_mapping",
    "plan_from_released_settings",
    "plan_from_schedule",
    "plan_to_dict",
    "plan_to_schedule",
    "save_plan",
]
