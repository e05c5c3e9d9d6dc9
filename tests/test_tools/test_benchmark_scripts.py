"""benchmarks/train_throughput.py (the Runner's model and optimizer wrapper
timed on a synthetic batch, stage loss weights from the config) and
benchmarks/eval_time.py (Runner.test on a generated split, with and
without re-ranking)."""
import importlib.util
import json
import os.path as osp
import re
import subprocess
import sys

import pytest
from mmengine.config import Config

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SCRIPT = 'benchmarks/train_throughput.py'
SMALL = ['model.image_encoder.arch.num_layers=1',
         'model.text_encoder.num_layers=1']


def load_script():
    spec = importlib.util.spec_from_file_location(
        'train_throughput', osp.join(REPO_ROOT, SCRIPT))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_stage_loss_weights_follow_the_loss_stage_hook():
    bench = load_script()
    laip = Config.fromfile(osp.join(REPO_ROOT, 'configs/laip/laip_synth.py'))
    assert bench.stage_loss_weights(laip, 0) == dict(
        triplet=0.0, mlm=0.0, local=0.0)
    assert bench.stage_loss_weights(laip, -1) == {}  # stage 2: all losses
    clip = Config.fromfile(osp.join(REPO_ROOT, 'configs/clip/clip_synth.py'))
    assert bench.stage_loss_weights(clip, -1) == {}
    assert bench.image_size(laip) == (64, 32)


def parse(log):
    losses = re.search(r'losses (\{.*\})', log).group(1)
    rate = float(re.search(r'fp32 .* ([\d.]+) images/s', log).group(1))
    return losses, rate


@pytest.mark.slow
@pytest.mark.parametrize('stage,expect', [
    ('-1', ('local', 'mlm', 'triplet', 'itc', 'itm')),
    ('0', ('itc', 'itm'))])
def test_laip_stages(stage, expect, run_script):
    log = run_script([SCRIPT, 'configs/laip/laip_synth.py', '--batch-size',
                      '4', '--steps', '1', '--warmup', '0', '--threads', '1',
                      '--stage', stage, '--cfg-options'] + SMALL)
    losses, rate = parse(log)
    assert all(f"'{k}'" in losses for k in expect), losses
    if stage == '0':
        assert "'local'" not in losses and "'mlm'" not in losses
    assert rate > 0
    assert 'AMP' not in log  # fp32 only without --amp


@pytest.mark.slow
def test_amp_without_cuda_is_a_clear_error():
    proc = subprocess.run(
        [sys.executable, SCRIPT, 'configs/clip/clip_synth.py', '--amp',
         '--device', 'cpu'], cwd=REPO_ROOT, capture_output=True, text=True,
        timeout=300)
    assert proc.returncode != 0
    assert '--amp needs a CUDA device' in proc.stderr


@pytest.mark.slow
def test_eval_time_generates_a_split_and_times_both_rankings(tmp_path,
                                                             run_script):
    root = str(tmp_path / 'split')
    log = run_script(['benchmarks/eval_time.py',
                      'configs/albef/albef_synth.py',
                      '--data-root', root, '--num-test-ids', '4',
                      '--image-size', '64', '32', '--cfg-options',
                      'test_dataloader.num_workers=0',
                      'test_dataloader.persistent_workers=False',
                      'model.rerank.k=4'] + SMALL)
    # 4 identities x 3 views, two captions each, in CUHK-PEDES layout
    records = [r for r in json.load(open(osp.join(root, 'reid_raw.json')))
               if r['split'] == 'test']
    assert len(records) == 12
    assert 'Re-ranked the top candidates of 24 queries' in log
    times = dict(re.findall(r'  (as configured|cosine only \(k=0\)) +'
                            r'([\d.]+) s', log))
    assert set(times) == {'as configured', 'cosine only (k=0)'}
    assert re.search(r're-ranked / cosine-only time: [\d.]+x', log)


@pytest.mark.slow
def test_eval_time_dual_encoder_has_no_rerank_run(tiny_synth_root,
                                                  run_script):
    log = run_script(['benchmarks/eval_time.py', 'configs/clip/clip_synth.py',
                      '--data-root', tiny_synth_root, '--cfg-options',
                      'test_dataloader.num_workers=0',
                      'test_dataloader.persistent_workers=False',
                      'model.image_encoder.layers=1',
                      'model.text_encoder.layers=1'])
    assert 'as configured' in log
    assert 'cosine only' not in log and 're-ranked /' not in log


@pytest.mark.slow
def test_quickstart_reports_every_phase(tiny_synth_root, load_tool):
    bench = load_tool('benchmarks/quickstart.py')
    opts = ['train_cfg.max_epochs=1', 'train_cfg.val_interval=1',
            'train_cfg.val_begin=1',
            'train_dataloader.batch_size=8', 'model.rerank.k=4',
            'model.image_encoder.arch.num_layers=1',
            'model.text_encoder.num_layers=1']
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        opts += [f'{loader}.num_workers=0',
                 f'{loader}.persistent_workers=False']
    phases, metrics = bench.main(['configs/laip/laip_synth.py',
                                  '--data-root', tiny_synth_root,
                                  '--cfg-options'] + opts)
    assert set(phases) == {'data generation', 'phrase parsing', 'training',
                           'validation', 'other (setup, checkpoints)',
                           'test'}
    assert phases['training'] > 0 and phases['validation'] > 0
    assert 0 <= metrics['R1'] <= 100
