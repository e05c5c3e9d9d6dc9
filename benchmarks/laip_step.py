"""Training-step cost of LAIP vs ALBEF on the same batch.

Builds ``configs/laip/laip_synth.py`` (or ``--config``) once, then times a
full training step (forward, backward, optimizer) with the stage-1 loss
weights (ITC + ITM = ALBEF), with all LAIP losses and Mask Phrase Modeling
over every noun phrase of a caption (the paper's Eq. 12, the default), and
with MPM capped at one phrase per caption (``phrases_per_caption=1``),
alternating the three so all see the same machine load. Prints the mean
times and the ratios to ALBEF (goal for the default: LAIP / ALBEF <= 1.6).
"""
import argparse
import statistics
import time

import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from tbps.registry import MODELS
from train_throughput import PHRASES, image_size, make_batch

# name -> (loss weights, MPM phrases per caption: None = every phrase)
STAGES = dict(albef=(dict(triplet=0.0, mlm=0.0, local=0.0), None),
              laip=(dict(triplet=1.0, mlm=1.0, local=1.0), None),
              laip_1phrase=(dict(triplet=1.0, mlm=1.0, local=1.0), 1))


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
        for name, (weights, phrases) in STAGES.items():
            model.loss_weights.update(weights)
            model.heads.mlm.masker.phrases_per_caption = phrases
            t = step(model, optimizer, data)
            if i:  # the first round warms up
                times[name].append(t)
    albef = statistics.mean(times['albef'])
    laip = statistics.mean(times['laip'])
    one = statistics.mean(times['laip_1phrase'])
    print(f'config {args.config}, batch {args.batch_size}, '
          f'{torch.get_num_threads()} threads, {args.steps} steps each, '
          f'{len(PHRASES)} phrases per caption')
    print(f'  ALBEF step (ITC + ITM)                 {albef * 1e3:8.1f} ms')
    print(f'  LAIP step, MPM on every phrase         {laip * 1e3:8.1f} ms')
    print(f'  LAIP step, MPM on one phrase a caption {one * 1e3:8.1f} ms')
    print(f'  ratio LAIP / ALBEF: {laip / albef:.2f}x (goal <= 1.6x); '
          f'one phrase: {one / albef:.2f}x')


if __name__ == '__main__':
    main()
