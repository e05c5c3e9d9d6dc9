"""Train a tbps model: ``python tools/train.py CONFIG [options]``."""
import argparse
import os
import os.path as osp

from mmengine.config import Config, DictAction
from mmengine.dist import barrier
from mmengine.runner import Runner

from tbps.engine import amp_optim_wrapper
from tbps.utils import register_all_modules
from tbps.utils.dist_env import finish_distributed, prepare_distributed


def parse_args():
    parser = argparse.ArgumentParser(description='Train a tbps model')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='where to save logs and models')
    parser.add_argument(
        '--resume', nargs='?', type=str, const='auto',
        help='resume from the given checkpoint, or from the latest one in '
        'the work dir when no path is given')
    parser.add_argument('--amp', action='store_true',
                        help='mixed-precision training (CUDA)')
    parser.add_argument('--no-validate', action='store_true',
                        help='skip validation during training')
    parser.add_argument(
        '--test', action='store_true',
        help='after training, evaluate on the test split the checkpoint '
        'that was best on validation (the last one with --no-validate)')
    parser.add_argument('--auto-scale-lr', action='store_true',
                        help='scale the learning rate with the batch size')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config keys, e.g. train_cfg.max_epochs=3')
    parser.add_argument('--launcher', default='none',
                        choices=['none', 'pytorch', 'slurm', 'mpi'])
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def merge_args(cfg: Config, args) -> Config:
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])
    if args.amp:
        import torch
        if not torch.cuda.is_available():
            raise SystemExit('--amp needs a CUDA device (mmengine\'s '
                             'AmpOptimWrapper); on CPU train without it.')
        cfg.optim_wrapper = amp_optim_wrapper(cfg.optim_wrapper)
    if args.no_validate:
        cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
        cfg.default_hooks.checkpoint.save_best = None
    if args.resume == 'auto':
        cfg.resume, cfg.load_from = True, None
    elif args.resume is not None:
        cfg.resume, cfg.load_from = True, args.resume
    if args.auto_scale_lr:
        cfg.auto_scale_lr.enable = True
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    return cfg


def test_best_checkpoint(runner: Runner) -> dict:
    """Load the best-by-validation weights (if any) and run the test loop."""
    best = runner.message_hub.get_info('best_ckpt')
    if best:
        # Every rank knows the path, only rank 0 writes the file: wait for it.
        barrier()
        runner.logger.info(f'Testing the best validation checkpoint {best}')
        runner.load_checkpoint(best)
    else:
        runner.logger.info('No best checkpoint recorded; testing the final '
                           'weights.')
    return runner.test()


def main():
    args = parse_args()
    register_all_modules(init_default_scope=False)
    cfg = merge_args(Config.fromfile(args.config), args)
    prepare_distributed(cfg, args.launcher)
    runner = Runner.from_cfg(cfg)
    runner.train()
    if args.test:
        test_best_checkpoint(runner)
    finish_distributed()


if __name__ == '__main__':
    main()
