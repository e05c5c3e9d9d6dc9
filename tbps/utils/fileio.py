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
    # mkstemp makes 0600 files; give the usual 0666 & ~umask
    umask = os.umask(0)
    os.umask(umask)
    os.fchmod(fd, 0o666 & ~umask)
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


def register_atomic_local_backend() -> None:
    """Make mmengine write local files atomically (checkpoints, the
    ``last_checkpoint`` pointer, logs' JSON dumps): its ``LocalBackend``
    ``put`` / ``put_text`` go through :func:`atomic_open`, so a kill during
    a save never leaves a truncated file that ``--resume`` would pick."""
    from mmengine.fileio import io as mm_io
    from mmengine.fileio.backends import LocalBackend, register_backend

    class AtomicLocalBackend(LocalBackend):
        """mmengine's local backend with atomic writes."""

        def put(self, obj: bytes, filepath) -> None:
            with atomic_open(str(filepath), 'wb') as f:
                f.write(obj)

        def put_text(self, obj: str, filepath, encoding: str = 'utf-8'):
            with atomic_open(str(filepath), 'w', encoding=encoding) as f:
                f.write(obj)

    register_backend('local', AtomicLocalBackend, force=True, prefixes='')
    # instances made before (cached per prefix) are replaced too
    for key, backend in list(mm_io.backend_instances.items()):
        if type(backend) is LocalBackend:
            mm_io.backend_instances[key] = AtomicLocalBackend()
