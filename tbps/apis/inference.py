"""Build a model from a config and load a checkpoint into it."""
import os.path as osp
from typing import Optional, Union

from mmengine.config import Config
from mmengine.logging import print_log


def _read_checkpoint(checkpoint: str, sha256: Optional[str]):
    """Load a local path or a (cached, hash-checked) URL with
    ``weights_only=True``: tbps training checkpoints load that way too."""
    from tbps.utils.download import (download, is_url, load_untrusted,
                                     sha256_from_url)
    verified = True  # local files: the user's own choice
    if is_url(checkpoint):
        path = download(checkpoint, sha256=sha256)
        # TorchScript runs code: only from a hash-checked download
        verified = bool(sha256 or sha256_from_url(checkpoint))
    else:
        path = osp.expanduser(checkpoint)
        if not osp.isfile(path):
            raise FileNotFoundError(f'Checkpoint {checkpoint!r} not found.')
    return load_untrusted(path, allow_torchscript=verified), path


def init_model(config: Union[str, Config], checkpoint: Optional[str] = None,
               device: str = 'cpu', sha256: Optional[str] = None,
               cfg_options: Optional[dict] = None):
    """A tbps model in eval mode on ``device``, from a config file or
    :class:`Config`, with ``checkpoint`` (a local path or an http(s) URL)
    loaded. Checkpoints in a known foreign format (ALBEF, OpenAI CLIP) are
    converted on the fly; the missing and unexpected keys are logged.

    Args:
        sha256 (str, optional): Expected sha256 of a downloaded checkpoint
            (default: the one its URL declares, if any).
        cfg_options (dict, optional): Config overrides, as
            ``--cfg-options`` (e.g. a local tokenizer vocabulary).
    """
    from tbps.converters.auto import to_tbps_state_dict
    from tbps.registry import MODELS
    from tbps.utils import register_all_modules
    register_all_modules(init_default_scope=True)
    cfg = Config.fromfile(config) if isinstance(config, str) else \
        config.copy()
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    model = MODELS.build(cfg.model)
    if checkpoint is not None:
        loaded, path = _read_checkpoint(checkpoint, sha256)
        img_size = cfg.model.get('image_encoder', {}).get('img_size')
        state_dict, fmt, _ = to_tbps_state_dict(loaded, img_size=img_size)
        result = model.load_state_dict(state_dict, strict=False)
        print_log(f'Loaded {path} ({fmt} format'
                  + (', converted' if fmt != 'tbps' else '') + f'): '
                  f'{len(result.missing_keys)} missing keys '
                  f'{_brief(result.missing_keys)}, '
                  f'{len(result.unexpected_keys)} unexpected keys '
                  f'{_brief(result.unexpected_keys)}.', logger='current')
        model.checkpoint_path = path
    model.cfg = cfg
    return model.to(device).eval()


def _brief(keys, limit=5):
    keys = list(keys)
    return keys[:limit] + (['...'] if len(keys) > limit else [])
