"""tools/analysis_tools/tem_replacements.py on a tiny AGA model."""
import re

import pytest


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


def test_counts_every_replaced_word(tiny_aga_files, load_tool, capsys):
    tool = load_tool('tools/analysis_tools/tem_replacements.py')
    config, checkpoint = tiny_aga_files
    # p = 1: every eligible masked word is replaced; an untrained MLM head
    # predicts other words than the originals
    assert tool.main([config, checkpoint, '--batches', '2',
                      '--cfg-options', 'model.heads.tem.prob=1.0']) == 0
    out = capsys.readouterr().out
    assert '16 training captions' in out and 'TEM prob 1.0' in out
    row = re.search(r'\| (\d+) \| ([\d.]+) \| ([\d.]+)% \| ([\d.]+)% \| '
                    r'([\d.]+)% \| ([\d.]+)% \|', out)
    total, per_caption = int(row[1]), float(row[2])
    assert total > 0 and per_caption == pytest.approx(total / 16, abs=0.01)
    assert sum(float(row[i]) for i in range(3, 7)) == pytest.approx(
        100, abs=0.3)
