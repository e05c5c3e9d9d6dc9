"""A third-party package registers a fusion head and adds it by config
(``model.heads.NAME`` + ``custom_imports``): it trains with no tbps edit."""
import os
import textwrap

import torch
from mmengine.config import Config
from mmengine.optim import OptimWrapper

from tbps.registry import MODELS
from tbps.structures import TBPSDataSample

PLUGIN = '''
import torch.nn as nn
import torch.nn.functional as F
from tbps.registry import MODELS


@MODELS.register_module()
class IdentityClassifierHead(nn.Module):
    """Toy head: classify the identity from the fused [CLS] token."""

    def __init__(self, fusion_dim, num_classes=4):
        super().__init__()
        self.fc = nn.Linear(fusion_dim, num_classes)

    def loss(self, batch):
        fused, _ = batch.fuse(batch.text_feat['tokens'],
                              batch.text_feat['mask'],
                              batch.image_feat['tokens'])
        logits = self.fc(fused[:, 0])
        return dict(loss_pid=F.cross_entropy(logits, batch.pids),
                    pid_acc=(logits.argmax(1) == batch.pids).float().mean())
'''


def _batch(model, pids):
    gen = torch.Generator().manual_seed(0)
    imgs = [torch.randint(0, 255, (3, 64, 32), dtype=torch.uint8,
                          generator=gen) for _ in pids]
    samples = [TBPSDataSample(metainfo=dict(
        caption=f'person {p} wears a red coat', pid=p, modality='pair'))
        for p in pids]
    return dict(inputs=imgs, data_samples=samples)


def test_plugin_head_added_by_config_trains(plugin_package):
    tmp_path = plugin_package('my_head_plugin', PLUGIN,
                              registered=['IdentityClassifierHead'])
    base = os.path.abspath('configs/albef/albef_synth.py')
    cfg_file = tmp_path / 'plugin_head_cfg.py'
    cfg_file.write_text(textwrap.dedent(f'''
    _base_ = ['{base}']
    custom_imports = dict(imports=['my_head_plugin'],
                          allow_failed_imports=False)
    model = dict(
        heads=dict(itc=dict(queue_size=8),
                   pid=dict(type='IdentityClassifierHead',
                            num_classes=4)),
        loss_weights=dict(pid=2.0))
    '''))
    cfg = Config.fromfile(str(cfg_file))  # runs custom_imports
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    head = model.heads['pid']
    assert type(head).__name__ == 'IdentityClassifierHead'
    # fusion_dim was filled by the retriever from the fusion encoder.
    assert head.fc.in_features == model.fusion_encoder.embed_dim
    optim = OptimWrapper(torch.optim.AdamW(model.parameters(), lr=1e-3))
    data = _batch(model, [0, 0, 1, 1, 2, 2, 3, 3])
    # Only the plugin head: its loss must fall on a fixed batch.
    model.loss_weights.update(itc=0.0, itm=0.0)
    logs = [model.train_step(data, optim) for _ in range(25)]
    assert set(logs[0]) == {'loss', 'loss_pid', 'pid_acc'}
    assert logs[-1]['loss_pid'] < 0.5 * logs[0]['loss_pid']
    assert logs[-1]['pid_acc'] == 1.0
    # Scaled by loss_weights['pid'] = 2; the accuracy is not scaled.
    model.eval()
    inputs = model.data_preprocessor(data, True)
    with torch.no_grad():
        twice = model.loss(**inputs)
        model.loss_weights['pid'] = 1.0
        once = model.loss(**inputs)
    assert torch.isclose(twice['loss_pid'], 2 * once['loss_pid'])
    assert twice['pid_acc'] == once['pid_acc']
    model.train()
    # With the method's own heads on, all losses are returned.
    model.loss_weights.update(itc=1.0, itm=1.0)
    log = model.train_step(data, optim)
    assert {'loss_itc', 'loss_itm', 'loss_pid'} <= set(log)
