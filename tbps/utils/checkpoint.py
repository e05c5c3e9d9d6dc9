"""Safe loading of mmengine training checkpoints with torch >= 2.6.

torch >= 2.6 loads with ``weights_only=True`` by default: only tensors,
containers and allow-listed globals are unpickled. mmengine's checkpoints
also hold its ``HistoryBuffer`` (log history in the message hub, numpy
arrays) whose pickled state names its statistics methods through
``getattr(HistoryBuffer, 'mean')``. :func:`register_safe_globals` allow-lists
exactly these objects, with ``getattr`` replaced by a function that only
returns ``HistoryBuffer``'s public methods, so ``--resume`` and
``load_from`` work while arbitrary pickled code is still refused.
"""
import pickle
from typing import Any

import numpy as np
import torch
from mmengine.logging.history_buffer import HistoryBuffer

_REGISTERED = False


def history_buffer_getattr(owner: Any, name: str) -> Any:
    """``getattr`` restricted to HistoryBuffer's public methods (as mmengine
    pickles ``HistoryBuffer._statistics_methods``)."""
    if owner is HistoryBuffer and not name.startswith('_') and callable(
            getattr(HistoryBuffer, name, None)):
        return getattr(HistoryBuffer, name)
    raise pickle.UnpicklingError(
        f'Refusing getattr({owner!r}, {name!r}) while loading a checkpoint '
        'with weights_only=True: only HistoryBuffer methods are allowed. '
        'If you trust this file, load it with torch.load(..., '
        'weights_only=False) and save its state_dict.')


def safe_globals() -> list:
    """The globals mmengine checkpoints need beyond torch's defaults."""
    reconstruct = np._core.multiarray._reconstruct
    scalar = np._core.multiarray.scalar
    dtypes = {type(np.dtype(t)) for t in (
        'bool', 'int8', 'int16', 'int32', 'int64', 'uint8', 'uint16',
        'uint32', 'uint64', 'float16', 'float32', 'float64')}
    return [
        HistoryBuffer, np.ndarray, np.dtype, reconstruct, scalar,
        *sorted(dtypes, key=lambda t: t.__name__),
        # numpy 1.x pickles name numpy.core; pickle protocol 2 __builtin__
        (reconstruct, 'numpy.core.multiarray._reconstruct'),
        (scalar, 'numpy.core.multiarray.scalar'),
        (history_buffer_getattr, 'builtins.getattr'),
        (history_buffer_getattr, '__builtin__.getattr'),
    ]


def register_safe_globals() -> None:
    """Allow-list :func:`safe_globals` for ``torch.load`` (once)."""
    global _REGISTERED
    if not _REGISTERED:
        torch.serialization.add_safe_globals(safe_globals())
        _REGISTERED = True
