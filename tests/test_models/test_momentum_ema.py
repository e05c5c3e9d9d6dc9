"""The direction of FusionRetriever's momentum (EMA) model, as in ALBEF:

    m <- 0.995 * m + 0.005 * online     (momentum=0.995)

The momentum model is mmengine's ExponentialMovingAverage with
``momentum = 1 - 0.995`` (mmengine's momentum is the weight of the NEW
value). Its ``steps`` counter starts at 0 and the update at steps == 0
copies the online weights; every later update (interval 1) is the blend
above. These tests check the steady-state step written out here."""
import pytest
import torch

from tbps.registry import MODELS


@pytest.fixture
def model(tiny_cfg):
    torch.manual_seed(0)
    return MODELS.build(tiny_cfg(momentum=0.995))


def online_params(model):
    """Momentum parameter name -> the online parameter it follows."""
    return {name: model.get_parameter(name)
            for name, _ in model.momentum.module.named_parameters()}


def momentum_params(model):
    return dict(model.momentum.module.named_parameters())


def perturb_online(model, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in online_params(model).values():
            p.add_(torch.randn(p.shape, generator=g))


def test_momentum_covers_encoders_and_projections(model):
    names = set(momentum_params(model))
    prefixes = {n.split('.')[0] for n in names}
    assert prefixes == {'image_encoder', 'text_encoder', 'image_proj',
                        'text_proj'}
    # every online parameter of those modules has a momentum copy
    for prefix in prefixes:
        online = {f'{prefix}.{n}' for n, _ in
                  model.get_submodule(prefix).named_parameters()}
        assert online <= names, prefix
    # copies, not the same tensors
    for name, m in momentum_params(model).items():
        assert m.data_ptr() != model.get_parameter(name).data_ptr(), name


def test_momentum_parameters_do_not_require_grad(model):
    assert all(not p.requires_grad for p in model.momentum.parameters())
    # the online ones still train
    assert all(p.requires_grad for p in online_params(model).values())


def test_first_update_copies_then_ema_moves_half_a_percent(model):
    sources = model._momentum_sources
    # the first update (steps 0 -> 1) copies the online weights
    perturb_online(model, seed=1)
    assert int(model.momentum.steps) == 0
    model.momentum.update_parameters(sources())
    assert int(model.momentum.steps) == 1
    for name, m in momentum_params(model).items():
        torch.testing.assert_close(m, model.get_parameter(name), rtol=0,
                                   atol=0, msg=name)

    for step, seed in enumerate((2, 3)):
        perturb_online(model, seed=seed)  # online moves away by ~N(0, 1)
        old = {n: m.detach().clone() for n, m in
               momentum_params(model).items()}
        online = {n: p.detach().clone() for n, p in
                  online_params(model).items()}
        model.momentum.update_parameters(sources())
        assert int(model.momentum.steps) == 2 + step
        moved = 0
        for name, m in momentum_params(model).items():
            expected = 0.995 * old[name] + 0.005 * online[name]
            torch.testing.assert_close(m, expected, rtol=1e-5, atol=1e-6,
                                       msg=name)
            moved += (m - old[name]).abs().sum().item()
            # the online weights are not touched by the update
            torch.testing.assert_close(model.get_parameter(name),
                                       online[name], rtol=0, atol=0)
        assert moved > 0
        # 0.5% of the way: |m_new - m_old| = 0.005 |online - m_old|
        new = momentum_params(model)
        gap = torch.cat([(online[n] - old[n]).flatten() for n in old])
        step_len = torch.cat([(new[n] - old[n]).flatten() for n in old])
        assert step_len.norm().item() == pytest.approx(
            0.005 * gap.norm().item(), rel=1e-3)


def test_loss_forward_updates_the_momentum_model(tiny_cfg):
    """The training forward EMA-updates the momentum model once."""
    from tbps.structures import TBPSDataSample
    torch.manual_seed(0)
    model = MODELS.build(tiny_cfg(momentum=0.995))
    model.loss_weights.update(itm=0.0, triplet=0.0, mlm=0.0, local=0.0)
    imgs = [torch.randint(0, 255, (3, 64, 32), dtype=torch.uint8)
            for _ in range(4)]
    samples = [TBPSDataSample(metainfo=dict(
        caption='the man has long hair.', phrases=['long hair'], pid=p,
        modality='pair')) for p in (0, 0, 1, 1)]
    data = model.data_preprocessor(dict(inputs=imgs, data_samples=samples),
                                   True)
    model(**data, mode='loss')
    assert int(model.momentum.steps) == 1
    perturb_online(model, seed=4)
    old = {n: m.detach().clone() for n, m in momentum_params(model).items()}
    online = {n: p.detach().clone() for n, p in online_params(model).items()}
    model(**data, mode='loss')
    assert int(model.momentum.steps) == 2
    for name, m in momentum_params(model).items():
        torch.testing.assert_close(
            m, 0.995 * old[name] + 0.005 * online[name], rtol=1e-5,
            atol=1e-6, msg=name)
