"""Training-step cost of LAIP vs ALBEF on the same batch.

Builds ``configs/laip/laip_synth.py`` (or ``--config``) once, then times a
full training step (forward, backward, optimizer) with the stage-1 loss
weights (ITC + ITM = ALBEF) and with all LAIP losses, alternating the two
so both see the same machine load. Prints the mean times and the ratio
(goal: LAIP / ALBEF <= 1.6).
"""
import argparse
import statistics
import time

import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from tbps.registry import MODELS
from train_throughput import image_size, make_batch

STAGES = dict(albef=dict(triplet=0.0, mlm=0.0, local=0.0),
              laip=dict(triplet=1.0, mlm=1.0, local=1.0))


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--config', default='configs/laip/laip_synth.py')
    parser.add_argument('--batch-size', type=int, default=32)
    parser.add_argument('--steps', type=int, default=6)
    parser.add_argument('--threads', type=int, default=None)
    return parser.parse_args()


def step(model, optimizer, data):
    start = time.perf_counter()
    losses = model(**data, mode='loss')
    sum(losses.values()).backward()
    optimizer.step()
    optimizer.zero_grad()
    return time.perf_counter() - start


def main():
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    init_default_scope('tbps')
    cfg = Config.fromfile(args.config)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.train()
    optimizer = torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad], lr=1e-5)
    data = model.data_preprocessor(
        make_batch(args.batch_size, image_size(cfg)), True)
    times = {k: [] for k in STAGES}
    for i in range(args.steps + 1):
        for name, weights in STAGES.items():
            model.loss_weights.update(weights)
            t = step(model, optimizer, data)
            if i:  # the first round warms up
                times[name].append(t)
    albef = statistics.mean(times['albef'])
    laip = statistics.mean(times['laip'])
    print(f'config {args.config}, batch {args.batch_size}, '
          f'{torch.get_num_threads()} threads, {args.steps} steps each')
    print(f'  ALBEF step (ITC + ITM)          {albef * 1e3:8.1f} ms')
    print(f'  LAIP step (+ triplet, MPM, BidirAtt) {laip * 1e3:8.1f} ms')
    print(f'  ratio LAIP / ALBEF: {laip / albef:.2f}x (goal <= 1.6x)')


if __name__ == '__main__':
    main()
