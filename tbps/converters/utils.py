"""Helpers shared by the checkpoint converters (``albef_convert`` /
``clip_convert`` and ``tools/model_converters/{albef,clip}2tbps.py``):
source resolution and a hash-checked download into torch hub's cache,
building a config's model, checking a converted state dict against it, and
the key sections of the conversion reports."""
import os
import os.path as osp
import re
import warnings
from collections import OrderedDict
from typing import Dict, Optional, Sequence
from urllib.parse import urlparse

import torch

from tbps.utils.fileio import sha256_of

__all__ = ['is_url', 'cached_download', 'build_config_model',
           'unwrap_checkpoint', 'compare_with_model', 'summarize_keys',
           'format_key_report']


def is_url(src: str) -> bool:
    return src.startswith(('http://', 'https://'))


def cached_download(url: str, sha256: Optional[str] = None, log=print,
                    warn_unverified: bool = True) -> str:
    """Local copy of ``url`` in torch hub's cache
    (``$TORCH_HOME/hub/checkpoints/<file name>``), verified against
    ``sha256`` (a hex digest or a prefix of one) when given. A cached file
    with a wrong hash is replaced; a download with a wrong hash raises and
    leaves nothing behind. Without ``sha256`` a cached file is used as is,
    and ``warn_unverified`` warns that the download is not verified."""
    expected = (sha256 or '').lower() or None
    folder = osp.join(torch.hub.get_dir(), 'checkpoints')
    os.makedirs(folder, exist_ok=True)
    path = osp.join(folder, osp.basename(urlparse(url).path))
    if osp.isfile(path):
        if expected is None or sha256_of(path).startswith(expected):
            log(f'using cached {path}')
            return path
        warnings.warn(f'{path} does not match sha256 {expected}; '
                      'downloading it again.')
    if expected is None and warn_unverified:
        warnings.warn(f'No sha256 known for {url}; the download is not '
                      'verified (pass --sha256).')
    log(f'downloading {url} to {path}')
    torch.hub.download_url_to_file(url, path, hash_prefix=expected,
                                   progress=True)
    return path


def build_config_model(config: str):
    """``(cfg, model)``: the model of a tbps config file, built on CPU with
    its default initialisation."""
    from mmengine.config import Config

    from tbps.registry import MODELS
    from tbps.utils import register_all_modules
    register_all_modules()
    cfg = Config.fromfile(config)
    return cfg, MODELS.build(cfg.model)


def unwrap_checkpoint(checkpoint, keys: Sequence[str] = ('state_dict',
                                                         'model'),
                      strip_prefix: Optional[str] = 'module.'
                      ) -> Dict[str, torch.Tensor]:
    """The state dict in a checkpoint: the first of ``checkpoint[key]`` for
    ``key`` in ``keys`` that is a dict, else the dict itself. If every key
    starts with ``strip_prefix`` (a DDP ``module.``), it is removed."""
    if not isinstance(checkpoint, dict):
        raise TypeError(f'Expected a dict checkpoint, got {type(checkpoint)}')
    for key in keys:
        if key in checkpoint and isinstance(checkpoint[key], dict):
            checkpoint = checkpoint[key]
            break
    if strip_prefix and checkpoint and all(
            k.startswith(strip_prefix) for k in checkpoint):
        checkpoint = OrderedDict(
            (k[len(strip_prefix):], v) for k, v in checkpoint.items())
    return checkpoint


def compare_with_model(state_dict: Dict[str, torch.Tensor],
                       model: torch.nn.Module) -> dict:
    """Load ``state_dict`` into ``model`` (non-strict, running the modules'
    load hooks, e.g. mmpretrain's position-embedding resize) and return
    ``missing``, ``unexpected`` and ``errors`` (shape mismatches)."""
    try:
        result = model.load_state_dict(dict(state_dict), strict=False)
    except RuntimeError as err:
        # Shape mismatches raise even when not strict; report the keys.
        own = model.state_dict()
        errors = [f'{k}: checkpoint {tuple(v.shape)} vs model '
                  f'{tuple(own[k].shape)}' for k, v in state_dict.items()
                  if k in own and own[k].shape != v.shape]
        return dict(missing=sorted(set(own) - set(state_dict)),
                    unexpected=sorted(set(state_dict) - set(own)),
                    errors=errors or [str(err)])
    return dict(missing=list(result.missing_keys),
                unexpected=list(result.unexpected_keys), errors=[])


def summarize_keys(keys, limit=20):
    """Collapse layer indices so long key lists stay readable."""
    groups = OrderedDict()
    for key in keys:
        pattern = re.sub(r'\.\d+\.', '.*.', key)
        groups[pattern] = groups.get(pattern, 0) + 1
    lines = [f'{p}' + (f' (x{n})' if n > 1 else '')
             for p, n in groups.items()]
    if len(lines) > limit:
        lines = lines[:limit] + [f'... {len(lines) - limit} more patterns']
    return lines


def format_key_report(report: dict, comparison: Optional[dict] = None,
                      limit: int = 20) -> list:
    """Report lines for ``report['dropped']`` (reason -> keys),
    ``report['unmapped']`` and a :func:`compare_with_model` result (key
    lists summarised, errors listed verbatim up to ``limit``)."""
    out = []
    for reason, keys in report['dropped'].items():
        out.append(f'dropped {len(keys)} key(s): {reason}')
        out += ['    ' + line for line in summarize_keys(keys, limit)]
    out.append(f"unmapped source keys: {len(report['unmapped'])}")
    out += ['    ' + line for line in summarize_keys(report['unmapped'],
                                                      limit)]
    if comparison is not None:
        for name in ('missing', 'unexpected', 'errors'):
            keys = comparison[name]
            out.append(f'{name} against the config model: {len(keys)}')
            if name != 'errors':
                lines = summarize_keys(keys, limit)
            else:
                lines = keys[:limit] + ([f'... {len(keys) - limit} more']
                                        if len(keys) > limit else [])
            out += ['    ' + line for line in lines]
    return out
