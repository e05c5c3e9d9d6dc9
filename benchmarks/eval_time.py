"""Evaluation time of a config on a CUHK-PEDES-test-size split.

Runs the real test path (mmengine ``Runner.test()``: the config's test
dataloader and pipeline, ``RetrievalTestLoop``, the retrieval metric with
the model's top-k re-ranking) with random weights on a SynthPEDES test split
of CUHK-PEDES's size (1025 identities x 3 views = 3075 images, 6150
captions; CUHK-PEDES test: 3074 / 6156), rendered at 384x128 and written in
CUHK-PEDES layout. For a model that re-ranks (ALBEF, LAIP) the same
evaluation also runs with ``model.rerank.k=0`` (cosine only) and the ratio
is printed, the cost of re-ranking measured in the same run.

    python benchmarks/eval_time.py configs/laip/laip_cuhk.py --fp16
    python benchmarks/eval_time.py configs/irra/irra_cuhk.py --fp16

``--fp16`` runs the forward passes under autocast (mmengine's
``TestLoop(fp16=True)``; CUDA). The split is generated once into
``--data-root`` (default ``data/synth_pedes_cuhk_test_size``).

``--memory`` instead compares peak host memory (``ru_maxrss`` of a fresh
process each) of the re-ranking evaluation as tbps runs it (gallery image
tokens encoded again one chunk at a time, :class:`GalleryImageTokens`)
against holding every gallery image's tokens at once (what the metric did
before: 3074 x 193 x 768 floats at CUHK-PEDES size), and checks that both
give the same metrics:

    python benchmarks/eval_time.py configs/laip/laip_cuhk.py --memory \
        --depth 1 --cfg-options model.rerank.k=16

(``--depth 1``: one layer per encoder at the config's widths, the same
tokens per image, so the same token memory, at a cost a CPU can pay.)
"""
import argparse
import copy
import json
import os.path as osp
import resource
import subprocess
import sys
import tempfile
import time

from mmengine.config import Config, DictAction
from mmengine.registry import init_default_scope
from mmengine.runner import Runner

from train_throughput import use_vocab_file

CUHK_TEST = dict(num_test_ids=1025, views_per_id=3)


def parse_args():
    parser = argparse.ArgumentParser(
        description='Evaluation time of a config at CUHK-PEDES test size.')
    parser.add_argument('config')
    parser.add_argument('--data-root', default='data/synth_pedes_cuhk_test_size',
                        help='a CUHK-PEDES-layout folder (generated there '
                        'when absent)')
    parser.add_argument('--num-test-ids', type=int,
                        default=CUHK_TEST['num_test_ids'],
                        help='identities of a generated split')
    parser.add_argument('--image-size', type=int, nargs=2, default=(384, 128),
                        metavar=('H', 'W'), help='of a generated split')
    parser.add_argument('--fp16', action='store_true',
                        help='autocast the forward passes (CUDA)')
    parser.add_argument('--vocab-file', default=None,
                        help='WordPiece vocab.txt replacing a BERT '
                        'tokenizer\'s name_or_path (offline machines)')
    parser.add_argument('--memory', action='store_true',
                        help='peak host memory of chunked vs whole-gallery '
                        'image tokens during re-ranking (one process each)')
    parser.add_argument('--depth', type=int, default=None,
                        help='layers per encoder (widths and token counts '
                        'kept): a CPU-feasible stand-in for --memory')
    parser.add_argument('--tokens', choices=('chunked', 'whole'),
                        help=argparse.SUPPRESS)  # one --memory child run
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        default={})
    return parser.parse_args()


def ensure_split(root: str, num_test_ids: int, image_size) -> str:
    """Generate a SynthPEDES whose test split has ``num_test_ids`` x 3
    images (train / val kept tiny) unless ``root`` already holds one."""
    if osp.isfile(osp.join(root, 'reid_raw.json')):
        return root
    from tbps.datasets.synth import make_synth_pedes
    return make_synth_pedes(root, seed=0, num_train_ids=2, num_val_ids=2,
                            num_test_ids=num_test_ids,
                            views_per_id=CUHK_TEST['views_per_id'],
                            image_size=tuple(image_size))


def time_test(cfg: Config, work_dir: str) -> float:
    """Seconds of ``Runner.test()``."""
    cfg = copy.deepcopy(cfg)
    cfg.work_dir = work_dir
    runner = Runner.from_cfg(cfg)
    start = time.perf_counter()
    runner.test()
    return time.perf_counter() - start


def set_depth(cfg: Config, depth: int) -> None:
    """``depth`` layers in every encoder, widths unchanged."""
    model = cfg.model
    arch = model.image_encoder.get('arch')
    if isinstance(arch, str):  # an mmpretrain ViT arch name
        from mmpretrain.models import VisionTransformer
        arch = dict(VisionTransformer.arch_zoo[arch])
        model.image_encoder.arch = dict(arch, num_layers=depth)
    elif arch is not None:
        model.image_encoder.arch.num_layers = depth
    else:
        model.image_encoder.layers = depth
    for key in ('text_encoder', 'fusion_encoder'):
        if key in model:
            enc = model[key]
            enc['num_layers' if 'num_layers' in enc else 'layers'] = depth


def hold_whole_gallery(model) -> None:
    """Baseline: re-rank from every gallery image's tokens held at once
    (the tokens of the lazy gallery, materialised before re-ranking)."""
    rerank = model.rerank

    def whole(similarity, text_inputs, image_tokens, k=None):
        chunk = model.rerank_cfg['image_chunk']
        held = [t for a in range(0, len(image_tokens), chunk)
                for t in image_tokens[a:a + chunk]]
        return rerank(similarity, text_inputs, held, k)

    model.rerank = whole


def peak_memory_child(cfg: Config, mode: str) -> None:
    """One ``--memory`` run: print the metrics and this process's peak
    resident memory as JSON."""
    with tempfile.TemporaryDirectory() as tmp:
        cfg.work_dir = tmp
        runner = Runner.from_cfg(cfg)
        if mode == 'whole':
            hold_whole_gallery(runner.model)
        metrics = runner.test()
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print('RESULT ' + json.dumps(dict(mode=mode, peak_mb=peak_kb / 1024,
                                      metrics=metrics)))


def compare_memory(argv) -> None:
    results = {}
    for mode in ('whole', 'chunked'):
        proc = subprocess.run([sys.executable, __file__, *argv, '--tokens',
                               mode], capture_output=True, text=True)
        if proc.returncode:
            raise SystemExit(f'the {mode!r} run failed:\n'
                             f'{proc.stderr[-3000:]}')
        out = proc.stdout
        line = next(ln for ln in out.splitlines()
                    if ln.startswith('RESULT '))
        results[mode] = json.loads(line[len('RESULT '):])
    whole, chunked = results['whole'], results['chunked']
    print(f"  whole-gallery tokens  peak {whole['peak_mb']:8.0f} MB  "
          f"{whole['metrics']}")
    print(f"  chunked (tbps)        peak {chunked['peak_mb']:8.0f} MB  "
          f"{chunked['metrics']}")
    print(f"  peak memory chunked / whole: "
          f"{chunked['peak_mb'] / whole['peak_mb']:.2f}x; metrics "
          + ('identical' if whole['metrics'] == chunked['metrics'] else
             'DIFFER'))


def main():
    args = parse_args()
    init_default_scope('tbps')
    cfg = Config.fromfile(args.config)
    cfg.merge_from_dict(args.cfg_options)
    use_vocab_file(cfg, args.vocab_file)
    if args.depth:
        set_depth(cfg, args.depth)
    root = ensure_split(args.data_root, args.num_test_ids, args.image_size)
    cfg.test_dataloader.dataset.data_root = root
    cfg.load_from, cfg.resume = None, False  # random weights: time only
    cfg.test_cfg = dict(cfg.get('test_cfg') or {}, fp16=args.fp16)
    cfg.default_hooks.logger.interval = 10 ** 6
    if args.tokens:
        return peak_memory_child(cfg, args.tokens)
    if args.memory:
        if not cfg.model.get('rerank', {}).get('k'):
            raise SystemExit(f'{args.config} does not re-rank.')
        print(f'config {args.config}, test split {root}')
        argv = [a for a in sys.argv[1:] if a != '--memory']
        return compare_memory(argv)

    runs = {'as configured': cfg}
    rerank = cfg.model.get('rerank')
    if rerank and rerank.get('k', 0) > 0:
        coarse = copy.deepcopy(cfg)
        coarse.model.rerank.k = 0
        runs['cosine only (k=0)'] = coarse
    seconds = {}
    with tempfile.TemporaryDirectory() as tmp:
        for i, (name, run_cfg) in enumerate(runs.items()):
            seconds[name] = time_test(run_cfg, osp.join(tmp, str(i)))
    print(f'config {args.config}, test split {root}, fp16 {args.fp16}'
          + (f', re-rank {dict(rerank)}' if rerank else ''))
    for name, s in seconds.items():
        print(f'  {name:20s} {s:8.1f} s')
    if len(seconds) == 2:
        full, coarse = seconds.values()
        print(f'  re-ranked / cosine-only time: {full / coarse:.2f}x')


if __name__ == '__main__':
    main()
