from .amp import amp_optim_wrapper  # noqa: F401
from .hooks import *  # noqa: F401,F403
from .runners import *  # noqa: F401,F403
from .schedulers import *  # noqa: F401,F403
