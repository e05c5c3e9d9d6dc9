"""Distributed set-up that also works on machines without CUDA."""
import os

import torch
import torch.distributed as dist


def prepare_distributed(cfg, launcher: str) -> None:
    """Adapt ``cfg`` for ``launcher`` before the Runner is built.

    With CUDA, mmengine's own NCCL set-up is used unchanged. Without CUDA,
    mmengine's launcher would call ``torch.cuda.set_device``; instead the
    gloo process group is initialised here from the torchrun environment and
    DDP is configured for CPU (``device_ids=None``).
    """
    cfg.launcher = launcher
    if launcher == 'none' or torch.cuda.is_available():
        return
    if launcher != 'pytorch':
        raise RuntimeError(f'Launcher {launcher!r} without CUDA is not '
                           "supported; use --launcher pytorch (torchrun).")
    cfg.env_cfg.setdefault('dist_cfg', {})['backend'] = 'gloo'
    if not dist.is_initialized():
        dist.init_process_group(backend='gloo',
                                rank=int(os.environ['RANK']),
                                world_size=int(os.environ['WORLD_SIZE']))
    wrapper = cfg.get('model_wrapper_cfg') or dict(
        type='MMDistributedDataParallel')
    wrapper.update(device_ids=None, broadcast_buffers=False)
    # mmengine applies the config's top-level find_unused_parameters only
    # when it builds the wrapper itself; a model whose heads are off in a
    # training stage (LAIP stage 1) needs it here too.
    wrapper.setdefault('find_unused_parameters',
                       bool(cfg.get('find_unused_parameters', False)))
    cfg.model_wrapper_cfg = wrapper


def finish_distributed() -> None:
    """Barrier then tear down, so no rank exits while others still talk.

    After a successful gloo (CPU) run, the process then exits at once
    (status 0): the interpreter's normal shutdown sometimes aborts there
    ("terminate called without an active exception", from a thread of the
    torn-down group), turning a finished run into a failed one."""
    if dist.is_available() and dist.is_initialized():
        backend = dist.get_backend()
        dist.barrier()
        dist.destroy_process_group()
        if backend == 'gloo':
            import logging
            import sys
            logging.shutdown()
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(0)
