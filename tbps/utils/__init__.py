from .checkpoint import load_local_checkpoint, register_checkpoint_loaders
from .setup_env import register_all_modules

__all__ = ['load_local_checkpoint', 'register_checkpoint_loaders',
           'register_all_modules']
