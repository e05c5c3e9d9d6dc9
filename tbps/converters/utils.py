"""Helpers shared by the checkpoint converters (``tbps.converters.*`` and
``tools/model_converters/*2tbps.py``): source resolution (zoo names, URLs
downloaded into tbps's cache, local files), building a config's model,
checking a converted state dict against it, and the key sections of the
conversion reports."""
import os.path as osp
import re
from collections import OrderedDict
from typing import Dict, Optional, Sequence

import torch

from tbps.utils.download import is_url

__all__ = ['is_url', 'resolve_source', 'load_source_checkpoint',
           'build_config_model',
           'unwrap_checkpoint', 'compare_with_model', 'summarize_keys',
           'format_key_report']


def resolve_source(src: str, sha256: Optional[str] = None, log=print,
                   aliases: Optional[Dict[str, str]] = None):
    """``(local path, trusted)`` of a converter's SRC: a model-zoo name or
    an alias (-> its URL), an http(s) URL (downloaded once into tbps's
    cache, hash-checked, see :func:`tbps.utils.download.download`) or a
    local file (the user's own: ``trusted``)."""
    from tbps.utils.download import download
    if aliases and src in aliases:
        src = aliases[src]
    elif not is_url(src) and not osp.exists(osp.expanduser(src)):
        from tbps.apis.model_zoo import list_models, weights_of
        if src.lower() in list_models():
            src = weights_of(src)
    if is_url(src):
        return download(src, sha256=sha256, log=log), False
    path = osp.expanduser(src)
    if not osp.isfile(path):
        names = f', {sorted(aliases)}' if aliases else ''
        raise FileNotFoundError(
            f'{src!r} is not a local file, an http(s) URL or a model-zoo '
            f'name (tbps.apis.list_models()){names}.')
    return path, True


def load_source_checkpoint(path: str, trust: bool = False):
    """Read a converter's source: ``weights_only=True`` (tensors and plain
    containers, no code); a full unpickle only with ``trust`` (the
    converters' ``--trust``), for files the user vouches for."""
    from tbps.utils.download import load_untrusted
    if trust:
        return torch.load(path, map_location='cpu', weights_only=False)
    try:
        return load_untrusted(path)
    except RuntimeError as err:
        raise RuntimeError(f'{err} Converters take --trust for such a '
                           'file.') from err


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
