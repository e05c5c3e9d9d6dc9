"""tools/search.py: rank a folder or a dataset split for a sentence, write
the JSON and a PNG grid with true matches outlined."""
import json

from PIL import Image

from tbps.visualization import TBPSVisualizer

TINY = ['model.image_encoder.layers=1', 'model.text_encoder.layers=1']


def test_split_query_with_true_matches(tiny_synth_root, tmp_path,
                                       load_tool, capsys):
    tool = load_tool('tools/search.py')
    out, js = tmp_path / 'grid.png', tmp_path / 'result.json'
    assert tool.main([
        'configs/clip/clip_synth.py', 'none', '--split', 'test',
        '--query-index', '0', '--topk', '5', '--out', str(out),
        '--json', str(js), '--index-file', str(tmp_path / 'idx.pth'),
        '--cfg-options',
        f'test_dataloader.dataset.data_root={tiny_synth_root}'] + TINY) == 0
    result = json.load(open(js))
    scores = [r['score'] for r in result['results']]
    assert len(scores) == 5 and scores == sorted(scores, reverse=True)
    assert result['true_matches']  # the caption's identity has images
    printed = capsys.readouterr().out
    assert f"query: {result['query']}" in printed
    grid = Image.open(out).convert('RGB')
    assert grid.width > 5 * TBPSVisualizer.tile[0]
    # every tile is outlined green (match) or red (not)
    pad = 6
    title_h = grid.height - (TBPSVisualizer.tile[1] + 14 + pad) - pad
    for rank, r in enumerate(result['results']):
        x = pad + rank * (TBPSVisualizer.tile[0] + pad) - 2
        pixel = grid.getpixel((x, title_h + TBPSVisualizer.tile[1] // 2))
        expected = (0, 170, 0) if r['path'] in result['true_matches'] \
            else (200, 0, 0)
        assert pixel == expected, (rank, pixel)


def test_folder_gallery_and_argument_errors(tiny_synth_root, tmp_path,
                                            load_tool):
    import pytest
    tool = load_tool('tools/search.py')
    js = tmp_path / 'r.json'
    assert tool.main([
        'configs/clip/clip_synth.py', 'none', '--gallery',
        f'{tiny_synth_root}/imgs/test', '--query', 'a man in a red coat',
        '--topk', '3', '--json', str(js),
        '--index-file', str(tmp_path / 'i.pth'),
        '--cfg-options'] + TINY) == 0
    assert len(json.load(open(js))['results']) == 3
    with pytest.raises(SystemExit):
        tool.main(['configs/clip/clip_synth.py', 'none', '--query', 'x'])
