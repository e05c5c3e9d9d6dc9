"""mmengine checkpoints load with torch's ``weights_only=True`` (the
allow-list of tbps.utils.checkpoint), and other pickled code is refused."""
import io

import numpy as np
import pytest
import torch
from mmengine.logging import MessageHub
from mmengine.logging.history_buffer import HistoryBuffer

import tbps  # noqa: F401  (registers the safe globals)


class _GetattrOf:
    """Pickles as ``getattr(owner, name)``, as mmengine's HistoryBuffer
    pickles its statistics methods."""

    def __init__(self, owner, name):
        self.owner, self.name = owner, name

    def __reduce__(self):
        return getattr, (self.owner, self.name)


def _roundtrip(obj):
    buf = io.BytesIO()
    torch.save(obj, buf)
    buf.seek(0)
    return torch.load(buf, weights_only=True)


def test_message_hub_state_loads_weights_only():
    hub = MessageHub.get_instance('tbps_test_checkpoint')
    for i in range(3):
        hub.update_scalar('train/loss', float(i))
    state = dict(meta=dict(epoch=1, seed=np.int64(0)),
                 message_hub=hub.state_dict(),
                 state_dict={'w': torch.ones(2)})
    loaded = _roundtrip(state)
    buffer = loaded['message_hub']['log_scalars']['train/loss']
    assert isinstance(buffer, HistoryBuffer)
    assert buffer.mean() == pytest.approx(1.0)
    assert buffer.statistics('max') == 2.0
    assert loaded['meta']['seed'] == 0


@pytest.mark.parametrize('owner,name', [(dict, 'fromkeys'),
                                        (HistoryBuffer, '__init__'),
                                        (HistoryBuffer, '__class__')])
def test_other_getattr_is_refused(owner, name):
    with pytest.raises(Exception,
                       match='Refusing getattr|not an allowed global'):
        _roundtrip({'x': _GetattrOf(owner, name)})


def test_unlisted_globals_are_refused():
    with pytest.raises(Exception, match='weights_only'):
        _roundtrip({'x': _GetattrOf})  # a class not on the allow-list
