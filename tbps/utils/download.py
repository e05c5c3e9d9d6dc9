"""Downloads of model weights into tbps's cache, hash-checked and atomic.

The cache is ``$TBPS_HOME/checkpoints`` (``TBPS_HOME`` defaults to
``~/.cache/tbps``). A download goes to a temporary name next to its target
and is renamed only when complete and, where a sha256 is known, verified;
an interrupted or wrong download leaves nothing that looks whole. The next
call reuses the cached file.
"""
import os
import os.path as osp
import re
import urllib.error
import urllib.request
import warnings
from typing import Callable, Optional
from urllib.parse import urlparse

import torch
from mmengine.utils import ProgressBar

from .fileio import sha256_of

_OPENAI_SHA = re.compile(r'/([0-9a-f]{64})/[^/]+$')
_OPENMMLAB_SHA = re.compile(r'-([0-9a-f]{8})\.(?:pth|pt|bin|safetensors)$')


def tbps_home() -> str:
    """``$TBPS_HOME`` or ``~/.cache/tbps``."""
    return osp.expanduser(os.environ.get(
        'TBPS_HOME', osp.join('~', '.cache', 'tbps')))


def checkpoint_dir() -> str:
    return osp.join(tbps_home(), 'checkpoints')


def is_url(src: str) -> bool:
    return str(src).startswith(('http://', 'https://'))


def sha256_from_url(url: str) -> Optional[str]:
    """The sha256 (or its prefix) a URL declares: OpenAI's
    ``.../<sha256>/<file>`` folder or OpenMMLab's ``<name>-<8 hex>.pth``."""
    path = urlparse(url).path
    match = _OPENAI_SHA.search(path)
    if match:
        return match.group(1)
    match = _OPENMMLAB_SHA.search(path)
    # eight digits alone are more likely a date (``-20240101.pth``) than a
    # hash prefix; metafiles give the full SHA256 anyway
    if match and not match.group(1).isdigit():
        return match.group(1)
    return None


def _fetch(url: str, tmp: str, progress: bool) -> None:
    """Stream ``url`` into ``tmp``; raises if fewer bytes arrive than the
    server announced."""
    with urllib.request.urlopen(url, timeout=60) as response, \
            open(tmp, 'wb') as out:
        total = int(response.headers.get('Content-Length') or 0)
        bar = ProgressBar(max(1, total >> 20)) if progress and total else None
        done, reported = 0, 0
        while True:
            chunk = response.read(1 << 20)
            if not chunk:
                break
            out.write(chunk)
            done += len(chunk)
            while bar is not None and reported < min(done, total) >> 20:
                bar.update()
                reported += 1
        if total and done != total:
            raise IOError(f'{url}: received {done} of {total} bytes')


def download(url: str, sha256: Optional[str] = None,
             folder: Optional[str] = None, progress: bool = True,
             log: Callable = print) -> str:
    """Local path of ``url`` in the cache, downloading it if needed.

    Args:
        url (str): http(s) URL.
        sha256 (str, optional): Expected sha256 (or a prefix of it); by
            default the one the URL declares (:func:`sha256_from_url`). A
            file without a known hash is used unverified.
        folder (str, optional): Cache folder (default :func:`checkpoint_dir`).
        progress (bool): Show a progress bar.

    Raises:
        RuntimeError: The download failed (e.g. offline) -- the message
            names the URL and where to put the file by hand -- or its
            sha256 does not match; nothing is kept in the cache.
    """
    expected = (sha256 or sha256_from_url(url) or '').lower() or None
    folder = folder or checkpoint_dir()
    # one sub-folder per URL: two URLs with the same file name never share
    # a cached file
    import hashlib
    folder = osp.join(folder, hashlib.sha256(url.encode()).hexdigest()[:16])
    os.makedirs(folder, exist_ok=True)
    path = osp.join(folder, osp.basename(urlparse(url).path))
    if osp.isfile(path):
        if expected is None or sha256_of(path).startswith(expected):
            return path
        warnings.warn(f'{path} does not match sha256 {expected}; '
                      'downloading it again.')
    tmp = f'{path}.{os.getpid()}.part'
    log(f'Downloading {url} to {path}')
    try:
        _fetch(url, tmp, progress)
        if expected is not None:
            actual = sha256_of(tmp)
            if not actual.startswith(expected):
                raise RuntimeError(
                    f'{url}: sha256 {actual} does not match the expected '
                    f'{expected}; the file was not kept.')
        os.replace(tmp, path)
    except (urllib.error.URLError, OSError) as err:
        raise RuntimeError(
            f'Could not download {url} ({err}). Download it by hand and '
            f'place it at {path} (the cache, set by TBPS_HOME), or pass the '
            'local file instead.') from err
    finally:
        if osp.exists(tmp):
            os.remove(tmp)
    return path


def load_untrusted(path: str, map_location='cpu',
                   allow_torchscript: bool = True):
    """``torch.load`` of a downloaded or foreign file with
    ``weights_only=True``: tensors and plain containers only, never code.
    TorchScript archives (OpenAI CLIP) are read with ``torch.jit.load``,
    which runs the archive's TorchScript: only with ``allow_torchscript``
    (give it for local or hash-verified files)."""
    import zipfile
    if zipfile.is_zipfile(path) and allow_torchscript:
        with zipfile.ZipFile(path) as archive:
            if any(n.endswith('/constants.pkl') for n in archive.namelist()):
                return torch.jit.load(path, map_location=map_location
                                      ).state_dict()
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # pickle.UnpicklingError and friends
        reason = re.search(r'WeightsUnpickler error: ([^\n]*)', str(err))
        raise RuntimeError(
            f'{path} holds objects that torch will not unpickle safely '
            f'(weights_only=True): '
            f'{reason.group(1) if reason else type(err).__name__}. '
            'If you trust the file, load it yourself with '
            'torch.load(path, weights_only=False) and save its state_dict.'
        ) from err
