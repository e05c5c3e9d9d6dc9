"""The committed model-zoo page is what the metafiles generate."""
import os.path as osp

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def test_committed_page_matches_the_index(load_tool):
    tool = load_tool('tools/misc/gen_model_zoo.py')
    page = open(osp.join(REPO_ROOT, 'docs', 'model_zoo.md')).read()
    assert page == tool.render(), \
        'docs/model_zoo.md is stale: run python tools/misc/gen_model_zoo.py'


def test_page_lists_every_model_with_its_source(tmp_path, load_tool):
    tool = load_tool('tools/misc/gen_model_zoo.py')
    from tbps.apis import list_models
    page = tool.render()
    for name in list_models():
        assert f'`{name}`' in page
    assert 'not measured by tbps' in page  # where reported numbers are from
    out = tmp_path / 'zoo.md'
    assert tool.main(['--out', str(out)]) == 0
    assert tool.main(['--out', str(out), '--check']) == 0
    out.write_text('stale')
    assert tool.main(['--out', str(out), '--check']) == 1
