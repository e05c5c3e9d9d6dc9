"""Atomic file writes (nothing half-written is ever left at the target)
and file hashing."""
import hashlib
import json
import os
import os.path as osp
import tempfile
from contextlib import contextmanager


@contextmanager
def atomic_open(path: str, mode: str = 'w', encoding=None):
    """Open a temporary file next to ``path``; on a clean exit it is synced
    and renamed onto ``path`` (``os.replace``), on an error it is removed
    and an existing ``path`` stays intact."""
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f'.{osp.basename(path)}.',
                               suffix='.tmp', dir=folder)
    try:
        with os.fdopen(fd, mode, encoding=encoding) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise


def dump_json_atomic(obj, path: str, **json_kwargs) -> None:
    """``json.dump`` to ``path`` atomically."""
    with atomic_open(path, 'w', encoding='utf-8') as f:
        json.dump(obj, f, **json_kwargs)


def torch_save_atomic(obj, path: str) -> None:
    """``torch.save`` to ``path`` atomically: a failure never leaves a
    partial ``path`` (an old one stays intact)."""
    import torch
    with atomic_open(path, 'wb') as f:
        torch.save(obj, f)


def sha256_of(path: str) -> str:
    """Hex sha256 of the file at ``path`` (read in 1 MiB chunks)."""
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(1 << 20), b''):
            digest.update(chunk)
    return digest.hexdigest()
