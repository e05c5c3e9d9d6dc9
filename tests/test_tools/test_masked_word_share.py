"""tools/analysis_tools/masked_word_share.py on a tiny AGA model."""
import re


def test_prints_the_function_word_share_of_both_maskers(
        tiny_aga_files, load_tool, capsys):
    tool = load_tool('tools/analysis_tools/masked_word_share.py')
    config, checkpoint = tiny_aga_files
    assert tool.main([config, checkpoint, '--num', '10']) == 0
    out = capsys.readouterr().out
    rows = dict(re.findall(r'\| (random|agm) \| (\d+) \|', out))
    assert set(rows) == {'random', 'agm'} and int(rows['agm']) > 0
    assert '10 test captions' in out
