"""tbps: an OpenMMLab-style toolbox for text-based person search."""
from .version import __version__, version_info

__all__ = ['__version__', 'version_info']
