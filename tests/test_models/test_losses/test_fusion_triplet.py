"""FusionTripletLoss (LAIP, margin 0.6):
L = mean_i( [m - s_pos + s_negtext]_+ + [m - s_pos + s_negimg]_+ )."""
import pytest
import torch

from tbps.models.losses import FusionTripletLoss
from tbps.registry import MODELS

# (s_pos, s_negtext, s_negimg) and the two hinge terms worked out by hand
# with m = 0.6
ROWS = [
    ((0.9, 0.2, 0.1), (0.0, 0.0)),    # 0.6-0.9+0.2=-0.1, 0.6-0.9+0.1=-0.2
    ((0.5, 0.4, 0.3), (0.5, 0.4)),    # 0.6-0.5+0.4, 0.6-0.5+0.3
    ((0.95, 0.5, 0.3), (0.15, 0.0)),  # text hinge active, image hinge not
    ((0.1, 0.9, 0.8), (1.4, 1.3)),    # both violated badly
]


def scores():
    pos, neg_t, neg_i = (torch.tensor(col) for col in
                         zip(*(r[0] for r in ROWS)))
    return pos, neg_t, neg_i


def test_default_margin_is_laip():
    assert FusionTripletLoss().margin == 0.6
    loss = MODELS.build(dict(type='FusionTripletLoss'))
    assert isinstance(loss, FusionTripletLoss) and loss.margin == 0.6


def test_hinges_by_hand():
    pos, neg_t, neg_i = scores()
    expected = sum(a + b for _, (a, b) in ROWS) / len(ROWS)  # 3.75 / 4
    assert expected == pytest.approx(0.9375)
    out = FusionTripletLoss()(pos, neg_t, neg_i)
    assert out.dim() == 0
    assert out.item() == pytest.approx(expected, abs=1e-6)


def test_all_hinges_inactive_give_zero():
    pos = torch.tensor([0.9, 1.0])
    out = FusionTripletLoss()(pos, torch.tensor([0.29, 0.0]),
                              torch.tensor([0.1, 0.39]))
    assert out.item() == 0.0
    # exactly at the margin is still zero
    out = FusionTripletLoss()(torch.tensor([0.8]), torch.tensor([0.2]),
                              torch.tensor([0.2]))
    assert out.item() == pytest.approx(0.0, abs=1e-6)


def test_other_margin():
    pos, neg_t, neg_i = scores()
    # margin 0.2 by hand: row 0: 0, 0; row 1: 0.1, 0.0; row 2: 0, 0;
    # row 3: 1.0, 0.9
    out = FusionTripletLoss(margin=0.2)(pos, neg_t, neg_i)
    assert out.item() == pytest.approx((0.1 + 1.0 + 0.9) / 4, abs=1e-6)


def test_gradient_signs():
    pos, neg_t, neg_i = (s.clone().requires_grad_(True) for s in scores())
    FusionTripletLoss()(pos, neg_t, neg_i).backward()
    n = len(ROWS)
    # d/ds_pos = -(#active hinges)/B, d/ds_neg = +1/B where its hinge is on
    active = [(a > 0, b > 0) for _, (a, b) in ROWS]
    torch.testing.assert_close(
        pos.grad, torch.tensor([-(a + b) / n for a, b in active]))
    torch.testing.assert_close(
        neg_t.grad, torch.tensor([float(a) / n for a, _ in active]))
    torch.testing.assert_close(
        neg_i.grad, torch.tensor([float(b) / n for _, b in active]))
    # raising the positive lowers the loss, raising a negative raises it
    assert (pos.grad <= 0).all() and pos.grad[1:].lt(0).all()
    assert pos.grad[0] == 0  # no active hinge: no gradient
    assert (neg_t.grad >= 0).all() and (neg_i.grad >= 0).all()
