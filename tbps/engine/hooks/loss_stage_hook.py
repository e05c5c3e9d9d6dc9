"""Multi-stage training by loss weights (LAIP: stage 1 ITC+ITM, stage 2
all losses) within one run."""
from typing import List, Sequence

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from tbps.registry import HOOKS


@HOOKS.register_module()
class LossStageHook(Hook):
    """Before every training epoch, set ``model.loss_weights`` from the
    stage whose ``begin`` epoch is the latest one <= the current epoch.

    Because the stage is derived from the epoch counter, resuming a run in
    stage 2 stays in stage 2.

    Args:
        stages (Sequence[dict]): ``dict(begin=epoch, loss_weights=dict(...))``
            with increasing ``begin``; the first must begin at 0. Keys not
            given in a stage keep the model's construction-time weights.
    """

    priority = 'NORMAL'

    def __init__(self, stages: Sequence[dict]):
        stages = sorted((dict(s) for s in stages), key=lambda s: s['begin'])
        if not stages or stages[0]['begin'] != 0:
            raise ValueError('LossStageHook needs a stage with begin=0.')
        self.stages: List[dict] = stages
        self._base_weights = None
        self._current = None

    def stage_index(self, epoch: int) -> int:
        return max(i for i, s in enumerate(self.stages) if s['begin'] <= epoch)

    def before_train_epoch(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) \
            else runner.model
        if self._base_weights is None:
            self._base_weights = dict(model.loss_weights)
        index = self.stage_index(runner.epoch)
        weights = dict(self._base_weights, **self.stages[index]['loss_weights'])
        unknown = set(weights) - set(self._base_weights)
        if unknown:
            raise KeyError(f'LossStageHook: unknown loss keys {sorted(unknown)};'
                           f' the model has {sorted(self._base_weights)}.')
        model.loss_weights = weights
        if index != self._current:
            runner.logger.info(f'Training stage {index + 1}/{len(self.stages)}'
                               f' from epoch {runner.epoch}: loss weights '
                               f'{weights}')
            self._current = index
