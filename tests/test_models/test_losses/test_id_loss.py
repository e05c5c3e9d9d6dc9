"""IDLoss: one classifier shared by image and text features."""
import math

import pytest
import torch

from tbps.registry import MODELS


def test_hand_computed_with_set_classifier():
    """W = I (3 classes, 3-d), b = 0: logits are the features themselves.
    Image row [ln 2, 0, 0] with label 0: p0 = 2 / (2 + 1 + 1) = 1/2, so
    CE = ln 2; text row [0, 0, 0]: uniform, CE = ln 3."""
    loss = MODELS.build(dict(type='IDLoss', num_classes=3, in_dim=3))
    with torch.no_grad():
        loss.classifier.weight.copy_(torch.eye(3))
        loss.classifier.bias.zero_()
    img = torch.tensor([[math.log(2), 0.0, 0.0]])
    txt = torch.zeros(1, 3)
    out = loss(img, txt, torch.tensor([0]))
    assert out.item() == pytest.approx((math.log(2) + math.log(3)) / 2,
                                       rel=1e-6)


def test_shared_classifier_and_init():
    loss = MODELS.build(dict(type='IDLoss', num_classes=10, in_dim=8))
    assert [n for n, _ in loss.named_parameters()] == [
        'classifier.weight', 'classifier.bias']
    assert loss.classifier.weight.std().item() < 0.01
    assert torch.equal(loss.classifier.bias, torch.zeros(10))
    # the same classifier scores both modalities: swapping them is a no-op
    torch.manual_seed(0)
    img, txt = torch.randn(4, 8), torch.randn(4, 8)
    pids = torch.tensor([1, 1, 5, 9])
    assert torch.allclose(loss(img, txt, pids), loss(txt, img, pids))


def test_gradients_reach_features_and_classifier():
    torch.manual_seed(1)
    loss = MODELS.build(dict(type='IDLoss', num_classes=4, in_dim=5))
    img = torch.randn(6, 5, requires_grad=True)
    txt = torch.randn(6, 5, requires_grad=True)
    loss(img, txt, torch.tensor([0, 0, 1, 2, 3, 3])).backward()
    assert img.grad.abs().sum() > 0 and txt.grad.abs().sum() > 0
    assert loss.classifier.weight.grad.abs().sum() > 0


def test_learns_to_classify():
    """A few steps on separable features drive the loss down."""
    torch.manual_seed(2)
    loss = MODELS.build(dict(type='IDLoss', num_classes=3, in_dim=3,
                             init_std=0.01))
    feats = torch.eye(3).repeat(2, 1)
    pids = torch.tensor([0, 1, 2, 0, 1, 2])
    opt = torch.optim.SGD(loss.parameters(), lr=1.0)
    first = loss(feats, feats, pids).item()
    assert first == pytest.approx(math.log(3), abs=0.05)
    for _ in range(50):
        opt.zero_grad()
        loss(feats, feats, pids).backward()
        opt.step()
    assert loss(feats, feats, pids).item() < 0.3 * first


def test_pid_out_of_range_is_a_clear_error():
    loss = MODELS.build(dict(type='IDLoss', num_classes=3, in_dim=2))
    with pytest.raises(ValueError, match='num_classes 3'):
        loss(torch.randn(2, 2), torch.randn(2, 2), torch.tensor([0, 3]))


def test_label_smoothing():
    torch.manual_seed(3)
    img, txt, pids = torch.randn(4, 6), torch.randn(4, 6), torch.arange(4)
    base = MODELS.build(dict(type='IDLoss', num_classes=4, in_dim=6,
                             init_std=1.0))  # far from uniform predictions
    smooth = MODELS.build(dict(type='IDLoss', num_classes=4, in_dim=6,
                               label_smoothing=0.1))
    smooth.load_state_dict(base.state_dict())
    assert not torch.allclose(smooth(img, txt, pids), base(img, txt, pids))
