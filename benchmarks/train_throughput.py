"""Training throughput (images/s) of a config's model, fp32 vs AMP.

Builds the model and the optimizer wrapper of CONFIG exactly as the Runner
does (``MODELS.build(cfg.model)``, mmengine's ``build_optim_wrapper``), then
times ``model.train_step`` (data preprocessing, all losses, momentum / queue
updates, backward, optimizer step) on one synthetic batch at the config's
image size. With ``--amp`` (CUDA) it alternates fp32 steps and
``AmpOptimWrapper`` steps on the same batch, so both see the same machine
load, and prints the AMP / fp32 images/s ratio.

For a config with a ``LossStageHook`` (LAIP) the losses of ``--stage``
(default: the last, all losses) are used. On a machine without the hub
files of ``bert-base-uncased``, pass any uncased WordPiece ``--vocab-file``
(the token ids only feed the timing).

    python benchmarks/train_throughput.py configs/laip/laip_cuhk.py --amp
    python benchmarks/train_throughput.py configs/irra/irra_cuhk.py --amp
"""
import argparse
import statistics
import time

import torch
from mmengine.config import Config, DictAction
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope

from tbps.engine import amp_optim_wrapper
from tbps.registry import MODELS
from tbps.structures import TBPSDataSample

CAPTION = ('the man has long hair. he wears a purple jacket, long yellow '
           'pants and gray shoes.')
PHRASES = ['long hair', 'a purple jacket', 'long yellow pants', 'gray shoes']


def parse_args():
    parser = argparse.ArgumentParser(
        description='Training images/s of a config, fp32 vs AMP.')
    parser.add_argument('config')
    parser.add_argument('--batch-size', type=int, default=None,
                        help='per-device batch (default: the config\'s)')
    parser.add_argument('--steps', type=int, default=10,
                        help='timed steps per precision')
    parser.add_argument('--warmup', type=int, default=2,
                        help='untimed steps per precision first')
    parser.add_argument('--amp', action='store_true',
                        help='also time AmpOptimWrapper (needs CUDA)')
    parser.add_argument('--device', default=None,
                        help='cuda or cpu (default: cuda when available)')
    parser.add_argument('--stage', type=int, default=-1,
                        help='LossStageHook stage whose loss weights to use')
    parser.add_argument('--vocab-file', default=None,
                        help='WordPiece vocab.txt replacing a BERT '
                        'tokenizer\'s name_or_path (offline machines)')
    parser.add_argument('--threads', type=int, default=None)
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        default={})
    return parser.parse_args()


def image_size(cfg) -> tuple:
    size = cfg.model.image_encoder.get('img_size', 224)
    return tuple(size) if isinstance(size, (list, tuple)) else (size, size)


def stage_loss_weights(cfg, stage: int) -> dict:
    """Loss weights a ``LossStageHook`` in ``cfg.custom_hooks`` sets for
    ``stage`` (an index into its stages), or ``{}`` without such a hook."""
    for hook in cfg.get('custom_hooks', []) or []:
        if hook.get('type') == 'LossStageHook':
            return dict(hook['stages'][stage]['loss_weights'])
    return {}


def use_vocab_file(cfg, vocab_file) -> None:
    """Point a config's ``BertTokenizer`` at a local ``vocab.txt``."""
    tokenizer = cfg.model.data_preprocessor.get('tokenizer')
    if vocab_file and tokenizer and tokenizer.get('type') == 'BertTokenizer':
        tokenizer.update(name_or_path=None, vocab_file=vocab_file)


def make_batch(batch_size: int, size: tuple) -> dict:
    """Raw uint8 images and data samples, two images per identity."""
    h, w = size
    imgs = [torch.randint(0, 256, (3, h, w), dtype=torch.uint8)
            for _ in range(batch_size)]
    samples = [TBPSDataSample(metainfo=dict(
        caption=CAPTION, phrases=PHRASES, pid=i // 2, modality='pair'))
        for i in range(batch_size)]
    return dict(inputs=imgs, data_samples=samples)


def synchronize(device: str) -> None:
    if device.startswith('cuda'):
        torch.cuda.synchronize()


def time_steps(model, optim_wrapper, data, steps, warmup, device,
               log_vars=None):
    """Seconds of each timed ``train_step`` after ``warmup`` untimed ones;
    the logged losses of each step are appended to ``log_vars``."""
    times = []
    for i in range(warmup + steps):
        synchronize(device)
        start = time.perf_counter()
        logged = model.train_step(data, optim_wrapper)
        synchronize(device)
        if i >= warmup:
            times.append(time.perf_counter() - start)
        if log_vars is not None:
            log_vars.append(logged)
    return times


def main():
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = args.device or ('cuda' if torch.cuda.is_available() else 'cpu')
    if args.amp and not device.startswith('cuda'):
        raise SystemExit('--amp needs a CUDA device (mmengine\'s '
                         'AmpOptimWrapper).')
    init_default_scope('tbps')
    cfg = Config.fromfile(args.config)
    cfg.merge_from_dict(args.cfg_options)
    use_vocab_file(cfg, args.vocab_file)
    batch_size = args.batch_size or cfg.train_dataloader.batch_size

    torch.manual_seed(0)
    model = MODELS.build(cfg.model).to(device)
    model.train()
    model.loss_weights.update(stage_loss_weights(cfg, args.stage))
    wrappers = {'fp32': build_optim_wrapper(model, cfg.optim_wrapper)}
    if args.amp:
        wrappers['amp'] = build_optim_wrapper(
            model, amp_optim_wrapper(cfg.optim_wrapper))
    data = make_batch(batch_size, image_size(cfg))

    times = {name: [] for name in wrappers}
    log_vars = []
    peak = {}
    rounds = 2 if args.amp else 1  # alternate precisions in two rounds
    for r in range(rounds):
        for name, wrapper in wrappers.items():
            if device.startswith('cuda'):
                torch.cuda.reset_peak_memory_stats()
            times[name] += time_steps(model, wrapper, data,
                                      max(1, args.steps // rounds),
                                      args.warmup if r == 0 else 1, device,
                                      log_vars)
            if device.startswith('cuda'):
                peak[name] = max(peak.get(name, 0),
                                 torch.cuda.max_memory_allocated())

    weights = {k: v for k, v in model.loss_weights.items() if v}
    where = (torch.cuda.get_device_name() if device.startswith('cuda')
             else f'{torch.get_num_threads()} threads')
    print(f'config {args.config}, {device} ({where}), batch {batch_size}, '
          f'image {image_size(cfg)}, losses {weights}')
    rate = {}
    for name, ts in times.items():
        step = statistics.median(ts)
        rate[name] = batch_size / step
        mem = f', peak {peak[name] / 2**30:.2f} GiB' if name in peak else ''
        print(f'  {name:5s} {step * 1e3:9.1f} ms/step  '
              f'{rate[name]:8.1f} images/s  ({len(ts)} steps{mem})')
    # same seed, batch and number of steps -> comparable across runs (e.g.
    # before / after a change, with --cfg-options): the optimizer's updates
    # shape the later losses
    print('  losses of the last step: ' + ', '.join(
        f'{k} {float(torch.as_tensor(v).detach()):.6f}'
        for k, v in sorted(log_vars[-1].items())
        if 'loss' in k))
    if 'amp' in rate:
        print(f'  AMP / fp32 images/s: {rate["amp"] / rate["fp32"]:.2f}x')


if __name__ == '__main__':
    main()
