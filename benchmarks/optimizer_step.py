"""Optimizer-step cost of a config: torch's fused Adam/AdamW kernel (the
configs' choice) vs the per-tensor loop, alternated on the same model.

Builds CONFIG's model and two optimizer wrappers (``fused=True`` and
``fused=False``, otherwise the config's, param-wise settings included) over
two identical copies of the parameters, gives every trainable parameter the
same random gradient and times ``optim_wrapper.step()`` alternately, so
both see the same machine load. Prints ms per step, the ratio, and the
largest parameter difference after the timed steps (the two paths compute
the same update up to float rounding)::

    python benchmarks/optimizer_step.py configs/laip/laip_cuhk.py
"""
import argparse
import copy
import statistics
import time

import torch
from mmengine.config import Config, DictAction
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope

from tbps.registry import MODELS
from train_throughput import use_vocab_file


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('--steps', type=int, default=5)
    parser.add_argument('--threads', type=int, default=None)
    parser.add_argument('--vocab-file', default=None,
                        help='a local WordPiece vocab.txt (no hub access)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args()


def main():
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    init_default_scope('tbps')
    cfg = Config.fromfile(args.config)
    cfg.merge_from_dict(args.cfg_options or {})
    use_vocab_file(cfg, args.vocab_file)
    torch.manual_seed(0)
    models, wrappers = {}, {}
    model = MODELS.build(cfg.model)
    for name, fused in (('fused', True), ('per-tensor', False)):
        models[name] = model if name == 'fused' else copy.deepcopy(model)
        optim = copy.deepcopy(cfg.optim_wrapper)
        optim.optimizer.fused = fused
        wrappers[name] = build_optim_wrapper(models[name], optim)
    grads = [torch.randn_like(p) * 1e-3 for p in model.parameters()
             if p.requires_grad]
    times = {name: [] for name in wrappers}
    for step in range(args.steps + 1):
        for name, wrapper in wrappers.items():
            params = [p for p in models[name].parameters() if p.requires_grad]
            for p, g in zip(params, grads):
                p.grad = g.clone()
            start = time.perf_counter()
            wrapper.step()
            if step:  # the first step allocates the optimizer states
                times[name].append(time.perf_counter() - start)
    num = sum(g.numel() for g in grads)
    print(f'config {args.config}: {num / 1e6:.1f}M trainable parameters, '
          f'{type(wrappers["fused"].optimizer).__name__}, '
          f'{torch.get_num_threads()} threads')
    ms = {name: statistics.median(ts) * 1e3 for name, ts in times.items()}
    for name, value in ms.items():
        print(f'  {name:10s} {value:9.1f} ms/step ({len(times[name])} steps)')
    print(f'  per-tensor / fused: {ms["per-tensor"] / ms["fused"]:.2f}x')
    diff = max((a - b).abs().max().item() for a, b in zip(
        models['fused'].parameters(), models['per-tensor'].parameters()))
    print(f'  largest parameter difference: {diff:.2e}')


if __name__ == '__main__':
    main()
