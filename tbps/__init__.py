"""tbps: an OpenMMLab-style toolbox for text-based person search."""
from .utils.checkpoint import register_safe_globals
from .utils.fileio import register_atomic_local_backend
from .version import __version__, version_info

# torch >= 2.6 loads weights_only: allow-list what mmengine checkpoints hold.
register_safe_globals()
# Checkpoints (and every local file mmengine writes) are written atomically.
register_atomic_local_backend()

__all__ = ['__version__', 'version_info']
