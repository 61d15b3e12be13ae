"""One training config with every random draw a step consumes turned on, for the resume-equality tests
(tests/training/test_loop.py on one process, tests/distributed/test_data_parallel.py on two ranks)."""

import dataclasses

from omnimask.masking import MaskingConfig, all2all, combine_mixtures, one_way, rgb2all
from omnimask.training.transfer import LoraConfig


def every_stochastic_option(cfg, second_store, *, image, others, budget, workers=0):
    """``cfg`` with drop-path, LoRA dropout, per-sample token budgets (``budget`` = (least, most)), a
    three-component masking mixture (one of them ``image`` → ``others``), two weighted datasets (``cfg``'s store
    and ``second_store``) and ``workers`` loader processes."""
    names = list(cfg.model.modality_overrides)
    mixture = combine_mixtures([all2all(1.0, names), (one_way([image], list(others)), 0.5),
                                (rgb2all(0.5, names, rgb=image), 0.5)])
    least, most = budget
    return dataclasses.replace(
        cfg, model=dataclasses.replace(cfg.model, drop_path=0.2), lora=LoraConfig(rank=2, dropout=0.3),
        masking=MaskingConfig(num_input_tokens=least, num_input_tokens_max=most, num_target_tokens=least,
                              num_target_tokens_max=most, mixture=mixture),
        data=dataclasses.replace(cfg.data, path="", paths=[cfg.data.path, str(second_store)], weights=[1.0, 3.0],
                                 num_workers=workers))
