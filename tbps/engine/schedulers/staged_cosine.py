"""Warm-up + cosine learning rate, restarted at every training stage."""
import math
from typing import Sequence

from mmengine.optim.scheduler.lr_scheduler import LRSchedulerMixin
from mmengine.optim.scheduler.param_scheduler import INF, _ParamScheduler
from mmengine.registry import PARAM_SCHEDULERS


@PARAM_SCHEDULERS.register_module()
class StagedCosineLR(LRSchedulerMixin, _ParamScheduler):
    """In each stage ``[s_k, s_{k+1})`` (the last ends at ``end``): a
    linear warm-up from ``warmup_factor x`` the base rate over ``warmup``
    steps (mmengine's ``LinearLR``), then a cosine from the base rate to
    ``eta_min`` at the stage's end (``CosineAnnealingLR``); the next stage
    starts over. LAIP's two stages each use warm-up +
    cosine (one cosine over both would start stage 2 far below the peak,
    with new heads to train).

    With ``by_epoch=True`` and ``convert_to_iter_based=True`` the stage
    starts, ``warmup``, ``begin`` and ``end`` are epochs, converted to
    iterations (as mmengine's own schedulers).

    Args:
        stages (Sequence[int]): Stage starts; the first is ``begin``.
        warmup (int): Warm-up steps of each stage (0: none).
        warmup_factor (float): Rate at a stage's first step, relative.
        eta_min (float): Rate at each stage's end.
    """

    def __init__(self, optimizer, stages: Sequence[int], warmup: int = 1,
                 warmup_factor: float = 0.1, eta_min: float = 0.0,
                 begin: int = 0, end: int = INF, last_step: int = -1,
                 by_epoch: bool = True, verbose: bool = False):
        stages = [int(s) for s in stages]
        if not stages or stages[0] != begin or sorted(stages) != stages \
                or len(set(stages)) != len(stages) or stages[-1] >= end:
            raise ValueError(
                f'StagedCosineLR: stages {stages} must increase, start at '
                f'begin ({begin}) and end before end ({end}).')
        self.stages = stages
        self.warmup = int(warmup)
        self.warmup_factor = warmup_factor
        self.eta_min = eta_min
        super().__init__(optimizer, begin=begin, end=end,
                         last_step=last_step, by_epoch=by_epoch,
                         verbose=verbose)

    @classmethod
    def build_iter_from_epoch(cls, *args, stages, warmup=1, begin=0,
                              end=INF, by_epoch=True, epoch_length=None,
                              **kwargs):
        """Build an iteration-based instance from an epoch-based config."""
        if not by_epoch or not epoch_length:
            raise ValueError('StagedCosineLR: only by_epoch=True configs '
                             'with an epoch length convert to iterations.')
        return cls(*args, stages=[int(s * epoch_length) for s in stages],
                   warmup=int(warmup * epoch_length),
                   begin=int(begin * epoch_length),
                   end=end if end == INF else int(end * epoch_length),
                   by_epoch=False, **kwargs)

    def rate_at(self, step: int, base: float) -> float:
        """The rate at absolute ``step`` for base rate ``base``."""
        k = max(i for i, s in enumerate(self.stages) if s <= step)
        start = self.stages[k]
        stop = self.stages[k + 1] if k + 1 < len(self.stages) else self.end
        t = step - start
        if t < self.warmup:
            # as mmengine's LinearLR: the base rate at the last warm-up step
            f = self.warmup_factor
            return base * (f + (1 - f) * t / max(1, self.warmup - 1))
        length = max(1, stop - start - self.warmup)
        cos = (1 + math.cos(math.pi * (t - self.warmup) / length)) / 2
        return self.eta_min + (base - self.eta_min) * cos

    def _get_value(self):
        step = self.begin + self.last_step
        return [self.rate_at(step, base) for base in self.base_values]
