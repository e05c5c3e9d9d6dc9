"""benchmarks/ddp_unused.py on a tiny LAIP: two gloo processes time
MMDistributedDataParallel with find_unused_parameters True and False at
stage 2 (all losses); at stage 1 the False variant fails with the names of
the heads that get no gradient."""
import os.path as osp
import re

import pytest
import torch.distributed as dist

pytestmark = [
    pytest.mark.slow,  # spawns two gloo processes, twice
    pytest.mark.skipif(not dist.is_available()
                       or not dist.is_gloo_available(),
                       reason='needs torch.distributed with gloo'),
]

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(REPO_ROOT, 'configs/laip/laip_synth.py')
# the shrinking of conftest.tiny_fusion_model_cfg, as --cfg-options; the
# ITC queue (8) holds one global batch (2 processes x 4)
TINY = ['model.image_encoder.arch.num_layers=1',
        'model.image_encoder.arch.embed_dims=32',
        'model.image_encoder.arch.feedforward_channels=64',
        'model.text_encoder.config.hidden_size=32',
        'model.text_encoder.config.intermediate_size=64',
        'model.fusion_encoder.config.hidden_size=32',
        'model.fusion_encoder.config.intermediate_size=64',
        'model.text_encoder.num_layers=1', 'model.embed_dim=16',
        'model.heads.itc.queue_size=8', 'model.heads.local.embed_dim=16']


@pytest.fixture
def bench(monkeypatch):
    # importable by name: the spawned workers unpickle ddp_unused._worker
    monkeypatch.syspath_prepend(osp.join(REPO_ROOT, 'benchmarks'))
    import ddp_unused
    return ddp_unused


def run(bench, *extra):
    return bench.main(['--config', CONFIG, '--steps', '1', '--batch-size',
                       '4', *extra, '--cfg-options', *TINY])


def test_times_both_variants_at_stage_2(bench, capsys):
    result = run(bench)
    out = capsys.readouterr().out
    assert 'stage 2/2' in out and '1 threads each' in out
    for flag in ('True', 'False'):
        ms = re.search(rf'find_unused_parameters={flag}\s+([\d.]+) ms/step',
                       out)
        assert ms and float(ms.group(1)) > 0, out
    ratio = re.search(r'ratio True / False: ([\d.]+)x', out)
    assert ratio and float(ratio.group(1)) == pytest.approx(
        result['ratio'], abs=1e-3)
    # stage 1 leaves the MPM and local heads without gradient
    assert re.search(r'stage 1: \d+/(\d+) .*heads\.local, heads\.mlm', out)
    assert 'static_graph possible: no' in out
    assert result['static_graph'] is False


def test_stage_1_fails_with_find_unused_parameters_false(bench):
    with pytest.raises(SystemExit) as err:
        run(bench, '--stage', '0')
    message = str(err.value)
    assert 'laip_synth.py, stage 1/2' in message
    assert 'find_unused_parameters=False) failed' in message
    assert 'heads.local, heads.mlm' in message
    assert 'heads.mlm.predictor' in message  # names from DDP's indices
    assert 'Expected to have finished reduction' in message
