"""tools/analysis_tools/tem_replacements.py on a tiny AGA model."""
import re

import pytest
import torch
from mmengine.config import Config

from tbps.registry import MODELS


@pytest.mark.parametrize('pair, category', [
    (('red', 'blue'), 'colour changed'),
    (('gray', 'grey'), 'synonym'),
    (('black', 'dark'), 'synonym'),      # hair colour words
    (('trousers', 'pants'), 'synonym'),
    (('backpack', 'handbag'), 'attribute changed'),
    (('woman', 'man'), 'attribute changed'),
    (('long', 'short'), 'attribute changed'),
    (('a', 'the'), 'other'),
    (('red', 'shirt'), 'other'),
])
def test_classifies_a_replacement(load_tool, pair, category):
    tool = load_tool('tools/analysis_tools/tem_replacements.py')
    assert tool.classify(*pair) == category


def test_counts_every_replaced_word(tiny_synth_root, tiny_cfg, tmp_path,
                                    load_tool, capsys):
    tool = load_tool('tools/analysis_tools/tem_replacements.py')
    cfg = Config.fromfile('configs/aga/aga_synth.py')
    cfg.model = tiny_cfg('configs/aga/aga_synth.py')
    cfg.train_dataloader.dataset.data_root = tiny_synth_root
    cfg.train_dataloader.batch_size = 8
    config = tmp_path / 'aga_tiny.py'
    cfg.dump(str(config))
    torch.manual_seed(0)
    checkpoint = tmp_path / 'model.pth'
    torch.save({'state_dict': MODELS.build(cfg.model).state_dict()},
               str(checkpoint))
    # p = 1: every eligible masked word is replaced; an untrained MLM head
    # predicts other words than the originals
    assert tool.main([str(config), str(checkpoint), '--batches', '2',
                      '--cfg-options', 'model.heads.tem.prob=1.0']) == 0
    out = capsys.readouterr().out
    assert '16 training captions' in out and 'TEM prob 1.0' in out
    row = re.search(r'\| (\d+) \| ([\d.]+) \| ([\d.]+)% \| ([\d.]+)% \| '
                    r'([\d.]+)% \| ([\d.]+)% \|', out)
    total, per_caption = int(row[1]), float(row[2])
    assert total > 0 and per_caption == pytest.approx(total / 16, abs=0.01)
    assert sum(float(row[i]) for i in range(3, 7)) == pytest.approx(
        100, abs=0.3)
