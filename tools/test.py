"""Evaluate a checkpoint: ``python tools/test.py CONFIG CHECKPOINT``."""
import argparse
import os
import os.path as osp

from mmengine.config import Config, DictAction
from mmengine.runner import Runner

from tbps.utils import register_all_modules
from tbps.utils.fileio import dump_json_atomic
from tbps.utils.dist_env import finish_distributed, prepare_distributed


def parse_args():
    parser = argparse.ArgumentParser(description='Test a tbps model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='where to save logs')
    parser.add_argument('--out', help='dump the metrics to this JSON file')
    parser.add_argument('--amp', action='store_true',
                        help='mixed-precision inference (CUDA)')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config keys, e.g. test_dataloader.batch_size=64')
    parser.add_argument('--launcher', default='none',
                        choices=['none', 'pytorch', 'slurm', 'mpi'])
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def main():
    args = parse_args()
    register_all_modules(init_default_scope=False)
    cfg = Config.fromfile(args.config)
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])
    cfg.load_from = args.checkpoint
    cfg.resume = False
    if args.amp:
        cfg.test_cfg = dict(cfg.get('test_cfg') or {}, fp16=True)
    # Testing never trains: no training loop, no best-checkpoint bookkeeping.
    cfg.default_hooks.checkpoint.save_best = None
    prepare_distributed(cfg, args.launcher)
    runner = Runner.from_cfg(cfg)
    metrics = runner.test()
    if args.out:
        from mmengine.dist import is_main_process
        if is_main_process():
            dump_json_atomic(metrics, args.out, indent=2)
    finish_distributed()


if __name__ == '__main__':
    main()
