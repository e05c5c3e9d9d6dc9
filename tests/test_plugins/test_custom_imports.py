"""A third-party package registers an encoder and is used by type name
through ``custom_imports``, with no tbps edit."""
import textwrap

import torch
from mmengine.config import Config

from tbps.registry import MODELS
from tbps.structures import TBPSDataSample

PLUGIN = '''
import torch
import torch.nn as nn
from tbps.registry import MODELS


@MODELS.register_module()
class MeanColourEncoder(nn.Module):
    """Toy image encoder: per-channel means, then a linear layer."""

    def __init__(self, embed_dim=16):
        super().__init__()
        self.embed_dim = embed_dim
        self.fc = nn.Linear(3, embed_dim)

    def forward(self, images):
        g = self.fc(images.mean(dim=(2, 3)))
        return g, g[:, None]
'''


def test_plugin_replaces_image_encoder_by_type_name(plugin_package):
    import os
    tmp_path = plugin_package('my_tbps_plugin', PLUGIN,
                              registered=['MeanColourEncoder'])
    repo_cfg = os.path.abspath('configs/clip/clip_synth.py')
    cfg_file = tmp_path / 'plugin_cfg.py'
    cfg_file.write_text(textwrap.dedent(f'''
        _base_ = ['{repo_cfg}']
        custom_imports = dict(imports=['my_tbps_plugin'],
                              allow_failed_imports=False)
        model = dict(
            data_preprocessor=dict(tokenizer=dict(_delete_=True,
                                                  type='CLIPTokenizer')),
            image_encoder=dict(_delete_=True, type='MeanColourEncoder',
                               embed_dim=24),
            text_encoder=dict(layers=1))
    '''))
    cfg = Config.fromfile(str(cfg_file))  # runs custom_imports
    model = MODELS.build(cfg.model)
    assert type(model.image_encoder).__name__ == 'MeanColourEncoder'
    assert model.image_proj.in_dim == 24
    imgs = [torch.randint(0, 255, (3, 8, 4), dtype=torch.uint8)
            for _ in range(2)]
    samples = [TBPSDataSample(metainfo=dict(caption='a red shirt', pid=i,
                                            modality='pair'))
               for i in range(2)]
    data = model.data_preprocessor(dict(inputs=imgs,
                                        data_samples=samples), True)
    loss = model(**data, mode='loss')['loss_itc']
    loss.backward()
    assert model.image_encoder.fc.weight.grad is not None
