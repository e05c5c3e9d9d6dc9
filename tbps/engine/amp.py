"""Mixed-precision training switch shared by tools/train.py --amp and
benchmarks/train_throughput.py, so the benchmark times what --amp trains."""
import copy


def amp_optim_wrapper(optim_wrapper: dict) -> dict:
    """A copy of an ``optim_wrapper`` config as mmengine's
    ``AmpOptimWrapper`` (CUDA autocast + gradient scaling), with dynamic
    loss scaling unless the config sets ``loss_scale``."""
    cfg = copy.deepcopy(optim_wrapper)
    cfg['type'] = 'AmpOptimWrapper'
    cfg.setdefault('loss_scale', 'dynamic')
    return cfg
