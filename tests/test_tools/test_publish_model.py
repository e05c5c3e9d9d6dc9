"""tools/misc/publish_model.py: weights kept, training state dropped,
sha256 prefix in the name, loadable with weights_only."""
import hashlib
import os.path as osp

import numpy as np
import torch
from mmengine.logging import MessageHub

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def test_publish_strips_training_state(tmp_path, capsys, load_tool):
    hub = MessageHub.get_instance('publish_test')
    hub.update_scalar('train/loss', 1.0)
    src = tmp_path / 'best_R1_epoch_3.pth'
    weights = {'w': torch.randn(4, 4).half(), 'steps': torch.tensor(3)}
    torch.save({'state_dict': weights,
                'meta': {'epoch': 3, 'iter': 300, 'seed': np.int64(0),
                         'hook_msgs': {'best_ckpt': 'x'}},
                'optimizer': {'state': {0: {'exp_avg': torch.ones(4)}},
                              'param_groups': []},
                'message_hub': hub.state_dict(),
                'param_schedulers': [{'last_epoch': 3}]}, str(src))
    tool = load_tool('tools/misc/publish_model.py')
    assert tool.main([str(src), str(tmp_path / 'laip_synth.pth'),
                      '--config', 'configs/laip/laip_synth.py',
                      '--url-prefix', 'https://example.org/tbps',
                      '--collection', 'LAIP']) == 0
    out = capsys.readouterr().out
    path = out.split('wrote ')[1].split(' (')[0]
    data = open(path, 'rb').read()
    sha = hashlib.sha256(data).hexdigest()
    assert osp.basename(path) == f'laip_synth-{sha[:8]}.pth'
    saved = torch.load(path, weights_only=True)
    assert set(saved) == {'state_dict', 'meta'}
    assert saved['state_dict']['w'].dtype == torch.float32
    assert torch.equal(saved['state_dict']['w'], weights['w'].float())
    assert saved['meta']['epoch'] == 3 and 'hook_msgs' not in saved['meta']
    assert f'SHA256: {sha}' in out
    assert f'Weights: https://example.org/tbps/laip_synth-{sha[:8]}.pth' \
        in out
    assert not osp.exists(str(tmp_path / 'laip_synth.pth.unhashed'))
    # The zoo's download convention recognises the published name.
    from tbps.utils.download import sha256_from_url
    # (a prefix of eight digits alone is not taken for a hash: a date)
    expected = None if sha[:8].isdigit() else sha[:8]
    assert sha256_from_url(f'https://x/{osp.basename(path)}') == expected
