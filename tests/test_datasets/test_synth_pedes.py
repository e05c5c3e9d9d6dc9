"""SynthPEDES: generator, caption grammar, vocabulary, dataset class, CLI."""
import filecmp
import importlib.util
import json
import multiprocessing as mp
import os
import os.path as osp
import re

import numpy as np
import pytest
from PIL import Image

from tbps.datasets.synth import (MALS_ATTRIBUTES, VOCAB_FILE,
                                 make_synth_pedes)
from tbps.datasets.synth import generate as gen_module
from tbps.datasets.synth.attributes import (DESCRIBED_FACTORS, MALS_PROMPTS,
                                            differing_factors,
                                            effective_identity, mals_labels,
                                            sample_identity)
from tbps.datasets.synth.captions import (ATTRIBUTE_KEYWORDS, COLOR_WORDS,
                                          grammar_vocabulary, make_caption,
                                          tokenize, vocab_lines, write_vocab)

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SMALL = dict(num_train_ids=6, num_val_ids=2, num_test_ids=2, views_per_id=2)
IDX = {name: i for i, name in enumerate(MALS_ATTRIBUTES)}
COLOR_OF_WORD = {w: c for c, words in COLOR_WORDS.items() for w in words}


def _load(root, name):
    with open(osp.join(root, name), encoding='utf-8') as f:
        return json.load(f)


def _same_tree(a, b):
    cmp = filecmp.dircmp(a, b)
    if cmp.left_only or cmp.right_only or cmp.diff_files or cmp.funny_files:
        return False
    match, mismatch, errors = filecmp.cmpfiles(
        a, b, cmp.common_files, shallow=False)
    return not mismatch and not errors and all(
        _same_tree(osp.join(a, d), osp.join(b, d)) for d in cmp.common_dirs)


def test_deterministic_by_seed_and_independent_of_workers(tmp_path):
    a = make_synth_pedes(str(tmp_path / 'a'), seed=3, num_workers=1,
                         **SMALL)
    b = make_synth_pedes(str(tmp_path / 'b'), seed=3, num_workers=2,
                         **SMALL)
    assert _same_tree(a, b)  # json and image bytes
    c = make_synth_pedes(str(tmp_path / 'c'), seed=4, num_workers=1,
                         **SMALL)
    assert _load(a, 'reid_raw.json') != _load(c, 'reid_raw.json')
    assert _load(a, 'meta.json')['generate_cfg']['seed'] == 3


def test_layout_and_identity_disjoint_splits(tiny_synth_root):
    records = _load(tiny_synth_root, 'reid_raw.json')
    meta = _load(tiny_synth_root, 'meta.json')
    cfg = meta['generate_cfg']
    pids = {s: {r['id'] for r in records if r['split'] == s}
            for s in ('train', 'val', 'test')}
    assert [len(pids[s]) for s in pids] == [
        cfg['num_train_ids'], cfg['num_val_ids'], cfg['num_test_ids']]
    assert not (pids['train'] & pids['val'] or pids['train'] & pids['test']
                or pids['val'] & pids['test'])
    assert set.union(*pids.values()) == set(range(1, 1 + sum(
        len(p) for p in pids.values())))
    assert len(records) == len(set.union(*pids.values())) * \
        cfg['views_per_id']
    for r in records:
        assert set(r) == {'split', 'captions', 'file_path',
                          'processed_tokens', 'id', 'attributes'}
        assert len(r['captions']) == 2 == len(r['processed_tokens'])
        img = Image.open(osp.join(tiny_synth_root, 'imgs', r['file_path']))
        assert img.size == (64, 128) and img.mode == 'RGB'
        for cap, toks in zip(r['captions'], r['processed_tokens']):
            assert re.fullmatch(r'[a-z ,.]+', cap)
            assert toks == [t for t in tokenize(cap) if t not in ',.']
    assert meta['version'] and meta['stats']['train']['images'] == len(
        [r for r in records if r['split'] == 'train'])


def _check_caption_against_labels(caption, labels):
    """Every attribute word in the caption agrees with the labels."""
    words = tokenize(caption)
    for k, w in enumerate(words):
        if w in ATTRIBUTE_KEYWORDS:
            name, value = ATTRIBUTE_KEYWORDS[w]
            assert labels[IDX[name]] == value, (caption, w)
        if w in COLOR_OF_WORD and k + 1 < len(words):
            color, nxt = COLOR_OF_WORD[w], words[k + 1]
            upper = nxt in ('shirt', 'top', 'sweater', 'blouse', 'jacket',
                            'coat', 'overcoat', 'dress')
            lower = nxt in ('trousers', 'pants', 'shorts', 'skirt', 'dress')
            if upper and f'upper_{color}' in IDX:
                assert labels[IDX[f'upper_{color}']] == 0, caption
            if lower and f'lower_{color}' in IDX:
                assert labels[IDX[f'lower_{color}']] == 0, caption
    for m in re.finditer(r'(long|short) sleeved|with (long|short) sleeves',
                         caption):
        short = 'short' in m.group(0)
        assert labels[IDX['sleeve_length']] == int(short), caption
    if 'no bag' in caption or 'without a bag' in caption:
        assert labels[IDX['backpack']] == labels[IDX['handbag']] == \
            labels[IDX['bag']] == 1  # 1 = without


def test_attribute_labels_consistent_with_captions(tiny_synth_root):
    for r in _load(tiny_synth_root, 'reid_raw.json'):
        assert len(r['attributes']) == 27
        assert set(r['attributes']) <= {1, 0, -1}
        for cap in r['captions']:
            _check_caption_against_labels(cap, r['attributes'])
    # Many more captions straight from the grammar, with hidden parts.
    rng = np.random.default_rng(0)
    for i in range(1500):
        ident = sample_identity(rng)
        hidden = [('bag', ), ('shoes', 'lower_length'), ()][i % 3]
        labels = mals_labels(ident, hidden)
        cap = make_caption(ident, rng, hidden)
        _check_caption_against_labels(cap, labels)
        if 'bag' in hidden:
            assert not {'backpack', 'handbag', 'bag'} & set(tokenize(cap))
            assert labels[IDX['backpack']] == -1
        if 'lower_length' in hidden:
            assert labels[IDX['lower_length']] == -1
            assert not {'trousers', 'shorts', 'pants'} & set(tokenize(cap))
            assert not re.search(r'(long|short) \w+ (skirt|dress)', cap)


def test_label_convention():
    ident = sample_identity(np.random.default_rng(1))
    ident.update(gender='male', age='adult', hair_length='short', hat='cap',
                 bag='backpack', upper_kind='shirt', sleeve='short',
                 upper_color='red', lower_kind='shorts',
                 lower_length='short', lower_color='pink')
    lab = dict(zip(MALS_ATTRIBUTES, mals_labels(ident)))
    assert lab['gender'] == 1 and lab['age'] == 1 and lab['hair_length'] == 0
    # presence pairs ("with X" / "without X"): 0 = present, as APTM reads
    # MALS (label v selects prompt sentence 2i + v)
    assert lab['hat'] == 0 and lab['backpack'] == 0 and lab['handbag'] == 1
    assert lab['sleeve_length'] == 1 and lab['lower_length'] == 1
    assert lab['lower_type'] == 1 and lab['upper_red'] == 0
    colours = mals_labels(ident)[10:]
    assert lab['lower_pink'] == 0 and colours.count(0) == 2
    assert colours.count(1) == len(colours) - 2


def test_near_duplicate_pairs(tmp_path):
    root = make_synth_pedes(str(tmp_path / 'd'), seed=0, num_workers=1,
                            num_train_ids=40, num_val_ids=10,
                            num_test_ids=10, views_per_id=1)
    ids = _load(root, 'identities.json')
    by_pid = {i['pid']: i for i in ids}
    paired = [i for i in ids if i['near_duplicate_of'] is not None]
    assert 0.3 <= len(paired) / len(ids) <= 0.4
    for i in paired:
        j = by_pid[i['near_duplicate_of']]
        assert j['near_duplicate_of'] == i['pid'] and j['split'] == i['split']
        assert differing_factors(i['factors'], j['factors']) == \
            [i['differs_in']] == [j['differs_in']]

    def code(i):
        eff = effective_identity(i['factors'])
        return [eff[k] for k in DESCRIBED_FACTORS]

    # Any other two identities of a split differ in >= 2 described factors.
    for a in ids:
        for b in ids:
            if a['pid'] < b['pid'] and a['split'] == b['split'] and \
                    a['near_duplicate_of'] != b['pid']:
                assert sum(x != y for x, y in zip(code(a), code(b))) >= 2


def test_vocabulary_covers_grammar_and_regenerates(tmp_path,
                                                   tiny_synth_root):
    with open(VOCAB_FILE, encoding='utf-8') as f:
        lines = f.read().splitlines()
    assert lines[:5] == ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]']
    assert lines[5:] == sorted(lines[5:]) == grammar_vocabulary()
    assert lines == vocab_lines()
    out = write_vocab(str(tmp_path / 'vocab.txt'))
    assert filecmp.cmp(out, VOCAB_FILE, shallow=False)
    vocab = set(lines)
    for r in _load(tiny_synth_root, 'reid_raw.json'):
        for cap in r['captions']:
            assert set(tokenize(cap)) <= vocab, cap
    rng = np.random.default_rng(5)
    seen = set()
    for i in range(3000):
        cap = make_caption(sample_identity(rng), rng,
                           [('bag', ), ('shoes', 'lower_length'), ()][i % 3])
        seen.update(tokenize(cap))
    assert seen <= vocab, seen - vocab
    # APTM's attribute prompts are in the vocabulary too (no [UNK])
    prompt_words = {w for s in MALS_PROMPTS for w in s.split()}
    assert prompt_words <= vocab
    caption_only = set(grammar_vocabulary()) - (prompt_words - seen)
    assert len(seen) > 0.9 * len(caption_only)  # no dead entries


def test_dataset_class_train_and_test_splits(tiny_synth_root):
    from tbps.registry import DATASETS
    records = _load(tiny_synth_root, 'reid_raw.json')
    train = DATASETS.build(dict(type='SynthPEDES', data_root=tiny_synth_root,
                                split='train', generate=False))
    n_train = sum(len(r['captions']) for r in records
                  if r['split'] == 'train')
    assert len(train) == n_train
    info = train.get_data_info(0)
    assert info['modality'] == 'pair' and info['caption']
    assert len(info['attributes']) == 27 and osp.isfile(info['img_path'])
    assert sorted(set(train.pids)) == list(range(train.num_ids))
    assert train.metainfo['dataset_name'] == 'SynthPEDES'

    test = DATASETS.build(dict(type='SynthPEDES', data_root=tiny_synth_root,
                               split='test'))
    test_recs = [r for r in records if r['split'] == 'test']
    n_gal, n_q = len(test_recs), sum(len(r['captions']) for r in test_recs)
    mods = [test.get_data_info(i)['modality'] for i in range(len(test))]
    assert mods == ['image'] * n_gal + ['text'] * n_q
    gal_pids = {test.get_data_info(i)['pid'] for i in range(n_gal)}
    assert gal_pids == {r['id'] for r in test_recs}


def test_generation_on_first_use_and_seed_mismatch(tmp_path):
    from tbps.datasets import SynthPEDES
    root = str(tmp_path / 'data' / 'synth')
    cfg = dict(num_train_ids=4, num_val_ids=2, num_test_ids=2,
               views_per_id=1, num_workers=1)
    ds = SynthPEDES(data_root=root, seed=2, generate_cfg=cfg, split='val')
    assert osp.isfile(osp.join(root, 'reid_raw.json'))
    assert len(ds) == 2 + 4  # 2 gallery images + 4 queries
    # Same settings: loads, no regeneration.
    mtime = os.stat(osp.join(root, 'reid_raw.json')).st_mtime_ns
    SynthPEDES(data_root=root, seed=2, generate_cfg=cfg, split='train')
    assert os.stat(osp.join(root, 'reid_raw.json')).st_mtime_ns == mtime
    with pytest.raises(ValueError, match=r'meta\.json.*seed: 2 in the file '
                       r'vs 0 requested'):
        SynthPEDES(data_root=root, split='train')
    with pytest.raises(ValueError, match='num_train_ids: 4 in the file vs '
                       '5 requested'):
        SynthPEDES(data_root=root, seed=2, split='train',
                   generate_cfg=dict(num_train_ids=5))
    with pytest.raises(ValueError, match='unknown generate_cfg'):
        SynthPEDES(data_root=root, seed=2, generate_cfg=dict(num_ids=5))
    with pytest.raises(FileNotFoundError, match='generate=False'):
        SynthPEDES(data_root=str(tmp_path / 'absent'), generate=False)


def _build_in_child(root, queue):
    from tbps.datasets import SynthPEDES
    try:
        ds = SynthPEDES(data_root=root, split='test', generate_cfg=dict(
            num_train_ids=3, num_val_ids=1, num_test_ids=2, views_per_id=1,
            num_workers=1))
        queue.put(len(ds))
    except Exception as e:  # report to the parent
        queue.put(repr(e))


@pytest.mark.skipif('fork' not in mp.get_all_start_methods(),
                    reason='needs fork')
def test_concurrent_first_use_generates_once(tmp_path):
    root = str(tmp_path / 'shared')
    ctx = mp.get_context('fork')
    queue = ctx.Queue()
    procs = [ctx.Process(target=_build_in_child, args=(root, queue))
             for _ in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    results = [queue.get(timeout=5) for _ in procs]
    assert results == [2 + 4] * 3
    leftovers = [n for n in os.listdir(tmp_path) if '.tmp-' in n]
    assert not leftovers


def test_interrupted_generation_leaves_nothing(tmp_path, monkeypatch):
    calls = []
    real = gen_module.render_person

    def flaky(*args, **kwargs):
        calls.append(1)
        if len(calls) == 5:
            raise RuntimeError('renderer crashed')
        return real(*args, **kwargs)

    monkeypatch.setattr(gen_module, 'render_person', flaky)
    root = tmp_path / 'synth'
    with pytest.raises(RuntimeError, match='renderer crashed'):
        make_synth_pedes(str(root), num_workers=1, **SMALL)
    assert not root.exists() and os.listdir(tmp_path) == []
    # The dataset class does not see a half-written dataset either.
    from tbps.datasets import SynthPEDES
    calls.clear()
    with pytest.raises(RuntimeError, match='renderer crashed'):
        SynthPEDES(data_root=str(root), generate_cfg=dict(SMALL,
                                                          num_workers=1))
    assert not root.exists()


def test_refuses_to_overwrite_unless_asked(tmp_path):
    root = str(tmp_path / 's')
    make_synth_pedes(root, num_workers=1, **dict(SMALL, num_train_ids=2))
    with pytest.raises(FileExistsError):
        make_synth_pedes(root, num_workers=1, **SMALL)
    make_synth_pedes(root, num_workers=1, overwrite=True, **SMALL)
    assert _load(root, 'meta.json')['generate_cfg']['num_train_ids'] == 6
    assert [n for n in os.listdir(tmp_path)] == ['s']


def test_cli_writes_dataset_and_grid(tmp_path, capsys):
    path = osp.join(REPO_ROOT, 'tools', 'dataset_converters',
                    'make_synth_pedes.py')
    spec = importlib.util.spec_from_file_location('make_synth_pedes_cli',
                                                  path)
    cli = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cli)
    out, grid = tmp_path / 'data', tmp_path / 'docs' / 'grid.png'
    cli.main(['--out-dir', str(out), '--seed', '1', '--num-train-ids', '8',
              '--num-val-ids', '2', '--num-test-ids', '2', '--views-per-id',
              '3', '--workers', '1', '--grid', str(grid), '--grid-rows', '4'])
    assert (out / 'reid_raw.json').is_file()
    img = Image.open(grid)
    assert img.size[0] > 3 * 64 and img.size[1] >= 4 * 128
    assert grid.stat().st_size < 300 * 1024
    # Re-running with the same settings reuses the data.
    cli.main(['--out-dir', str(out), '--seed', '1', '--num-train-ids', '8',
              '--num-val-ids', '2', '--num-test-ids', '2', '--views-per-id',
              '3'])
    assert 'not regenerating' in capsys.readouterr().out


def test_data_of_another_generator_version_is_refused(tmp_path,
                                                      tiny_synth_root):
    """Version 1.0 wrote presence labels the other way round: its data must
    not be read silently by a tbps that trains on the labels."""
    from tbps.datasets.synth_pedes import check_generated_meta
    with open(osp.join(tiny_synth_root, 'meta.json')) as f:
        meta = json.load(f)
    check_generated_meta('SynthPEDES', tiny_synth_root, meta['seed'], {})
    old = tmp_path / 'old'
    old.mkdir()
    (old / 'meta.json').write_text(json.dumps(dict(meta, version='1.0')))
    with pytest.raises(ValueError, match=r"version '1\.0'.*Delete .*old"):
        check_generated_meta('SynthPEDES', str(old), meta['seed'], {})
