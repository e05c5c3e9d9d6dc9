from types import SimpleNamespace

import pytest

from tbps.registry import HOOKS


class FakeModel:
    def __init__(self):
        self.loss_weights = dict(itc=1.0, itm=1.0, mlm=1.0, local=0.5)


def runner_at(epoch, model):
    logs = []
    return SimpleNamespace(epoch=epoch, model=model,
                           logger=SimpleNamespace(info=logs.append)), logs


STAGES = [dict(begin=0, loss_weights=dict(mlm=0.0, local=0.0)),
          dict(begin=3, loss_weights=dict())]


def test_stage_follows_epoch_and_restores_configured_weights():
    hook = HOOKS.build(dict(type='LossStageHook', stages=STAGES))
    model = FakeModel()
    for epoch, expected in [(0, 0.0), (2, 0.0), (3, 0.5), (4, 0.5)]:
        runner, _ = runner_at(epoch, model)
        hook.before_train_epoch(runner)
        assert model.loss_weights['local'] == expected
        assert model.loss_weights['itc'] == 1.0


def test_resume_in_stage_two_stays_in_stage_two():
    hook = HOOKS.build(dict(type='LossStageHook', stages=STAGES))
    model = FakeModel()
    runner, logs = runner_at(5, model)  # a resumed run starts at epoch 5
    hook.before_train_epoch(runner)
    assert model.loss_weights == dict(itc=1.0, itm=1.0, mlm=1.0, local=0.5)
    assert 'stage 2/2' in logs[0]


def test_errors():
    with pytest.raises(ValueError, match='begin=0'):
        HOOKS.build(dict(type='LossStageHook',
                         stages=[dict(begin=1, loss_weights={})]))
    hook = HOOKS.build(dict(type='LossStageHook', stages=[
        dict(begin=0, loss_weights=dict(nope=1.0))]))
    with pytest.raises(KeyError, match='nope'):
        hook.before_train_epoch(runner_at(0, FakeModel())[0])
