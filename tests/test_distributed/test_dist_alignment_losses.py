"""SDMLoss and CMPMLoss under two gloo processes: gathering the other
ranks' features makes the mean of the ranks' losses equal the loss of one
process on the global batch, and each rank's feature gradient W times that
process's gradient of its rows (DDP's average then divides by W; see
test_dist_collectives.py for the gradient semantics)."""
import pytest
import torch
from conftest import run_gloo

pytestmark = pytest.mark.slow  # spawns two gloo processes

WORLD, B, D = 2, 4, 8
LOSSES = {'sdm': dict(type='SDMLoss', temperature=0.1),
          'cmpm_l1': dict(type='CMPMLoss'),
          'cmpm_l2': dict(type='CMPMLoss', label_norm='l2')}


def _data():
    g = torch.Generator().manual_seed(0)
    # pids 0 and 1 occur on both ranks: cross-rank positives
    return (torch.randn(WORLD * B, D, generator=g),
            torch.randn(WORLD * B, D, generator=g),
            torch.tensor([0, 1, 2, 0, 3, 1, 4, 0]))


def _build(cfg):
    from mmengine.registry import init_default_scope

    from tbps.registry import MODELS
    init_default_scope('tbps')
    return MODELS.build(dict(cfg))


def _checks(rank, out_dir):
    img, txt, pids = _data()
    sl = slice(rank * B, (rank + 1) * B)
    results = {}
    for name, cfg in LOSSES.items():
        i = img[sl].clone().requires_grad_(True)
        t = txt[sl].clone().requires_grad_(True)
        loss = _build(cfg)(i, t, pids[sl])
        loss.backward()
        results[name] = dict(loss=loss.item(), img_grad=i.grad,
                             txt_grad=t.grad)
    return results


@pytest.fixture(scope='module')
def dist_results(tmp_path_factory):
    return run_gloo(_checks, str(tmp_path_factory.mktemp('dist_align')),
                    world=WORLD)


@pytest.mark.parametrize('name', list(LOSSES))
def test_gathered_loss_matches_single_process(dist_results, name):
    img, txt, pids = _data()
    img.requires_grad_(True)
    txt.requires_grad_(True)
    ref = _build(LOSSES[name])(img, txt, pids)
    ref.backward()
    res = [r[name] for r in dist_results]
    assert sum(r['loss'] for r in res) / WORLD == pytest.approx(ref.item(),
                                                                rel=1e-5)
    for r, rr in enumerate(res):
        sl = slice(r * B, (r + 1) * B)
        torch.testing.assert_close(rr['img_grad'], WORLD * img.grad[sl],
                                   rtol=1e-4, atol=1e-6)
        torch.testing.assert_close(rr['txt_grad'], WORLD * txt.grad[sl],
                                   rtol=1e-4, atol=1e-6)
    # without the gather, a rank would see only its own 4 rows
    local = _build(LOSSES[name])(img[:B].detach(), txt[:B].detach(),
                                 pids[:B])
    assert abs(local.item() - res[0]['loss']) > 1e-3
