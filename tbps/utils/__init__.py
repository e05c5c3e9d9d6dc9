from .checkpoint import register_safe_globals
from .setup_env import register_all_modules

__all__ = ['register_safe_globals',
           'register_all_modules']
