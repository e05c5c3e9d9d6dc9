from .data_preprocessor import TBPSDataPreprocessor
from .encoders import *  # noqa: F401,F403
from .heads import *  # noqa: F401,F403
from .losses import *  # noqa: F401,F403
from .maskers import *  # noqa: F401,F403
from .necks import *  # noqa: F401,F403
from .retrievers import *  # noqa: F401,F403

__all__ = ['TBPSDataPreprocessor']
