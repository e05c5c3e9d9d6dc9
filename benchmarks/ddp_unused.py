"""Cost of DDP's ``find_unused_parameters=True`` per training step.

Two CPU processes on the gloo backend (spawned here, rendezvous on
127.0.0.1 at a free port). Each rank builds CONFIG's model once
(``MODELS.build(cfg.model)``), deep-copies it, wraps the two copies in
mmengine's ``MMDistributedDataParallel`` with ``find_unused_parameters``
True and False (``device_ids=None, broadcast_buffers=False``, as
``tbps.utils.dist_env.prepare_distributed`` configures CPU runs), builds an
optimizer wrapper for each as the Runner does (mmengine's
``build_optim_wrapper`` on the wrapped model) and alternates
``train_step`` (data preprocessing, all losses, backward with DDP's
all-reduce, optimizer step) on the two, so both see the same machine load.
Every rank trains on its own synthetic batch of ``--batch-size`` images
(``train_throughput.make_batch``). Rank 0's median ms/step of each variant
and their ratio are printed.

The measured stage is the last ``LossStageHook`` stage (``--stage``), for
LAIP all losses: every trainable parameter gets a gradient there, so both
variants are valid and the ratio is the price of the flag alone, i.e. of
DDP's traversal of the autograd graph after each forward to find
parameters that will get no gradient.

Why the flag is needed at all, and why ``static_graph`` is no way out:
LAIP's ``LossStageHook`` switches heads on between epochs. In stage 1
(ITC + ITM) the MPM and local-alignment heads take no part in the loss,
so their parameters get no gradient; with ``find_unused_parameters=False``
DDP's reducer then waits forever for them and the next iteration fails
("Expected to have finished reduction in the prior iteration ..."), which
is the bug the config's ``find_unused_parameters = True`` fixes (see
``prepare_distributed``). At stage 2 the set of parameters with gradients
changes; DDP's ``static_graph=True`` records which parameters are used in
the first iteration once and relies on that set for the whole run, so it
cannot follow the switch. Before timing, every rank runs one
forward/backward per stage on an unwrapped copy and records the parameters
that get a gradient; static_graph would be possible only if that set were
the same in every stage.

If a parameter gets no gradient in the measured stage, the False variant
fails; the error is caught and reported with the config, the stage and the
parameter names (exit status 1)::

    python benchmarks/ddp_unused.py --steps 6
    python benchmarks/ddp_unused.py --stage 0   # fails: stage 1 leaves heads
"""
import argparse
import copy
import json
import os
import re
import socket
import statistics
import tempfile
import time
from datetime import timedelta

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from mmengine.config import Config, DictAction
from mmengine.logging import MMLogger
from mmengine.optim import build_optim_wrapper
from mmengine.registry import MODEL_WRAPPERS, init_default_scope

from tbps.registry import MODELS
from train_throughput import image_size, make_batch

WORLD = 2
VARIANTS = (True, False)  # find_unused_parameters
# DDP's message when a parameter got no gradient in the previous iteration
UNREDUCED = 'Expected to have finished reduction in the prior iteration'


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--config', default='configs/laip/laip_synth.py')
    parser.add_argument('--steps', type=int, default=6,
                        help='timed steps per variant (after one untimed)')
    parser.add_argument('--batch-size', type=int, default=32,
                        help='images per process')
    parser.add_argument('--threads', type=int, default=1,
                        help='torch threads per process (two processes '
                        'share the machine)')
    parser.add_argument('--stage', type=int, default=-1,
                        help='LossStageHook stage to measure (default: the '
                        'last, all losses)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        default={})
    return parser.parse_args(argv)


def loss_stages(cfg, base: dict) -> list:
    """The loss weights of every ``LossStageHook`` stage as the hook sets
    them (``base`` updated by the stage's keys), or ``[base]``."""
    for hook in cfg.get('custom_hooks', []) or []:
        if hook.get('type') == 'LossStageHook':
            stages = sorted(hook['stages'], key=lambda s: s['begin'])
            return [dict(base, **s['loss_weights']) for s in stages]
    return [dict(base)]


def params_with_grad(model, data, loss_weights) -> set:
    """Names of the trainable parameters of ``model`` (unwrapped) that get
    a gradient from one training forward/backward with ``loss_weights``."""
    model.loss_weights = dict(loss_weights)
    losses = model(**model.data_preprocessor(data, True), mode='loss')
    model.parse_losses(losses)[0].backward()
    names = {n for n, p in model.named_parameters()
             if p.requires_grad and p.grad is not None}
    model.zero_grad(set_to_none=True)
    return names


def unreduced_names(error: RuntimeError, module) -> list:
    """Parameter names for the indices in DDP's error message (DDP numbers
    the trainable parameters in ``named_parameters`` order)."""
    names = [n for n, p in module.named_parameters() if p.requires_grad]
    found = re.search(r'did not receive grad for rank \d+: ([\d ]+)',
                      str(error))
    return [names[int(i)] for i in found.group(1).split()] if found else []


def groups(names) -> list:
    """Module prefixes (two levels) of parameter names, e.g. heads.mlm."""
    return sorted({'.'.join(n.split('.')[:2]) for n in names})


def run(rank: int, args) -> dict:
    """Timings on this rank, or the failure of the False variant."""
    init_default_scope('tbps')
    # the current logger; quiets build_optim_wrapper's per-parameter lines
    MMLogger.get_instance(f'ddp_unused_rank{rank}', log_level='ERROR')
    cfg = Config.fromfile(args.config)
    cfg.merge_from_dict(args.cfg_options)
    torch.manual_seed(0)  # the same model on every rank
    model = MODELS.build(cfg.model)
    model.train()
    stages = loss_stages(cfg, model.loss_weights)
    stage = range(len(stages))[args.stage]
    torch.manual_seed(1 + rank)  # each rank its own batch
    data = make_batch(args.batch_size, image_size(cfg))
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    used = [sorted(params_with_grad(copy.deepcopy(model), data, w))
            for w in stages]

    wrapped, optim = {}, {}
    for flag in VARIANTS:
        module = copy.deepcopy(model)
        module.loss_weights = dict(stages[stage])
        wrapped[flag] = MODEL_WRAPPERS.build(dict(
            type='MMDistributedDataParallel', module=module, device_ids=None,
            broadcast_buffers=False, find_unused_parameters=flag))
        optim[flag] = build_optim_wrapper(wrapped[flag], cfg.optim_wrapper)
    out = dict(trainable=trainable, used=used, stage=stage,
               weights=stages[stage], times={str(f): [] for f in VARIANTS},
               threads=torch.get_num_threads())
    # the first round is untimed (DDP rebuilds its buckets after it); the
    # False variant's missing gradients surface in its second forward
    for i in range(1 + args.steps):
        for flag in VARIANTS:
            start = time.perf_counter()
            try:
                wrapped[flag].train_step(data, optim[flag])
            except RuntimeError as e:
                if flag or UNREDUCED not in str(e):
                    raise
                out['error'] = str(e).split('. ')[0] + '.'
                out['unused'] = unreduced_names(e, wrapped[flag].module)
                return out
            if i:
                out['times'][str(flag)].append(time.perf_counter() - start)
    return out


def _worker(rank: int, args, port: int, out_dir: str) -> None:
    torch.set_num_threads(args.threads)
    dist.init_process_group('gloo', init_method=f'tcp://127.0.0.1:{port}',
                            rank=rank, world_size=WORLD,
                            timeout=timedelta(minutes=10))
    try:
        result = run(rank, args)
        dist.barrier()
    finally:
        dist.destroy_process_group()
    with open(os.path.join(out_dir, f'rank{rank}.json'), 'w') as f:
        json.dump(result, f)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def report(args, res: dict) -> dict:
    """Print rank 0's result; raise SystemExit if the False variant
    failed. Returns the median ms/step of each variant and their ratio."""
    stage = f'stage {res["stage"] + 1}/{len(res["used"])}'
    weights = {k: v for k, v in res['weights'].items() if v}
    if 'error' in res:
        names = res['unused'] or sorted(
            set(res['trainable']) - set(res['used'][res['stage']]))
        raise SystemExit(
            f'config {args.config}, {stage} (losses {weights}): '
            f'MMDistributedDataParallel(find_unused_parameters=False) '
            f'failed: {len(names)} parameters got no gradient '
            f'({", ".join(groups(names))}): {", ".join(names[:8])}'
            f'{" ..." if len(names) > 8 else ""}\n  DDP: {res["error"]}')
    ms = {flag: statistics.median(res['times'][str(flag)]) * 1e3
          for flag in VARIANTS}
    ratio = ms[True] / ms[False]
    print(f'config {args.config}, {stage}, losses {weights}, '
          f'{WORLD} processes (gloo, CPU), {res["threads"]} threads each, '
          f'batch {args.batch_size} per process, '
          f'{len(res["trainable"])} trainable parameter tensors')
    for flag in VARIANTS:
        print(f'  find_unused_parameters={str(flag):5s} {ms[flag]:9.1f} '
              f'ms/step  ({len(res["times"][str(flag)])} steps, median)')
    print(f'  ratio True / False: {ratio:.3f}x')
    # the parameters with gradients, stage by stage
    total = len(res['trainable'])
    for i, names in enumerate(res['used']):
        missing = sorted(set(res['trainable']) - set(names))
        print(f'  stage {i + 1}: {len(names)}/{total} parameters get a '
              'gradient' + (f'; none: {", ".join(groups(missing))}'
                            if missing else ''))
    static = all(set(u) == set(res['used'][0]) for u in res['used'])
    print('  static_graph possible: ' + (
        'yes (the same parameters get gradients in every stage)' if static
        else 'no (the set of parameters with gradients changes between '
        'LossStageHook stages; static_graph records it once)'))
    return dict(ms_true=ms[True], ms_false=ms[False], ratio=ratio,
                static_graph=static)


def main(argv=None) -> dict:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory() as out_dir:
        mp.start_processes(_worker, args=(args, _free_port(), out_dir),
                           nprocs=WORLD, join=True, start_method='spawn')
        with open(os.path.join(out_dir, 'rank0.json')) as f:
            res = json.load(f)
    return report(args, res)


if __name__ == '__main__':
    main()
