"""tools/analysis_tools/masked_word_share.py on a tiny AGA model."""
import re

import torch
from mmengine.config import Config

from tbps.registry import MODELS


def test_prints_the_function_word_share_of_both_maskers(
        tiny_synth_root, tiny_cfg, tmp_path, load_tool, capsys):
    tool = load_tool('tools/analysis_tools/masked_word_share.py')
    cfg = Config.fromfile('configs/aga/aga_synth.py')
    cfg.model = tiny_cfg('configs/aga/aga_synth.py')
    cfg.test_dataloader.dataset.data_root = tiny_synth_root
    config = tmp_path / 'aga_tiny.py'
    cfg.dump(str(config))
    torch.manual_seed(0)
    checkpoint = tmp_path / 'model.pth'
    torch.save({'state_dict': MODELS.build(cfg.model).state_dict()},
               str(checkpoint))
    assert tool.main([str(config), str(checkpoint), '--num', '10']) == 0
    out = capsys.readouterr().out
    rows = dict(re.findall(r'\| (random|agm) \| (\d+) \|', out))
    assert set(rows) == {'random', 'agm'} and int(rows['agm']) > 0
    assert '10 test captions' in out
