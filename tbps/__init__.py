"""tbps: an OpenMMLab-style toolbox for text-based person search."""
from .utils.checkpoint import register_checkpoint_loaders
from .version import __version__, version_info

# Resuming mmengine checkpoints needs the local loader on torch >= 2.6.
register_checkpoint_loaders()

__all__ = ['__version__', 'version_info']
