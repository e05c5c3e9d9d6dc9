"""Annotation formats: CUHK-PEDES, ICFG-PEDES, RSTPReid and MALS."""
import gc
import json
import os.path as osp
import re

import pytest
from PIL import Image

import tbps.datasets.base_dataset as base_module
from tbps.datasets import (CUHKPEDES, ICFGPEDES, MALS, AnnotationError,
                           RSTPReid)
from tbps.registry import DATASETS

LOAD = [dict(type='mmcv.LoadImageFromFile')]


@pytest.fixture(autouse=True)
def _skip_gc_collect(monkeypatch):
    """mmengine runs gc.collect() (~0.3 s) after serialising each dataset."""
    monkeypatch.setattr(gc, 'collect', lambda *args: 0)


# Original ids: train 5, 9, 12 (two images each); val 20, 21; test 30, 31.
IDS = dict(train=(12, 5, 9), val=(20, 21), test=(30, 31))


def _image(path):
    Image.new('RGB', (8, 16), (40, 80, 120)).save(path)


def _write_json(path, obj):
    with open(path, 'w') as f:
        json.dump(obj, f)


def _benchmark(root, name, splits=('train', 'val', 'test'), num_caps=2):
    """Write a tiny dataset in the layout of ``name``; return its class."""
    cls, ann_file, path_key = {
        'cuhk': (CUHKPEDES, 'reid_raw.json', 'file_path'),
        'icfg': (ICFGPEDES, 'ICFG-PEDES.json', 'file_path'),
        'rstp': (RSTPReid, 'data_captions.json', 'img_path'),
    }[name]
    (root / 'imgs' / 'cam').mkdir(parents=True)
    records = []
    for split in splits:
        for pid in IDS[split]:
            for view in range(2):
                rel = f'cam/{pid}_{view}.jpg'
                _image(root / 'imgs' / rel)
                records.append({
                    'split': split, 'id': pid, path_key: rel,
                    'captions': [f'person {pid} view {view} caption {c}'
                                 for c in range(num_caps)],
                    'processed_tokens': []})
    _write_json(root / ann_file, records)
    return cls, records


BENCHMARKS = [('cuhk', ('train', 'val', 'test'), 2),
              ('icfg', ('train', 'test'), 1),
              ('rstp', ('train', 'val', 'test'), 2)]


@pytest.mark.parametrize('name,splits,num_caps', BENCHMARKS)
def test_train_split(tmp_path, name, splits, num_caps):
    cls, _ = _benchmark(tmp_path, name, splits, num_caps)
    ds = cls(data_root=str(tmp_path), split='train', pipeline=LOAD)
    assert len(ds) == 3 * 2 * num_caps
    assert ds.metainfo['num_ids'] == ds.num_ids == 3
    infos = [ds.get_data_info(i) for i in range(len(ds))]
    assert {i['modality'] for i in infos} == {'pair'}
    # pids remapped 0..N-1 in sorted order of the original ids.
    assert {(i['pid'], i['raw_pid']) for i in infos} == {(0, 5), (1, 9),
                                                          (2, 12)}
    assert ds.pids == [i['pid'] for i in infos]
    assert all(osp.isfile(i['img_path']) for i in infos)
    assert all(f'person {i["raw_pid"]} ' in i['caption'] for i in infos)
    out = ds[0]
    assert out['img'].shape == (16, 8, 3)
    assert out['caption'] == infos[0]['caption']


@pytest.mark.parametrize('name,splits,num_caps', BENCHMARKS)
def test_eval_splits(tmp_path, name, splits, num_caps):
    cls, _ = _benchmark(tmp_path, name, splits, num_caps)
    for split in splits[1:]:
        ds = cls(data_root=str(tmp_path), split=split, pipeline=LOAD,
                 query_pipeline=[])
        num_gallery = len(IDS[split]) * 2
        assert ds.metainfo['num_gallery'] == num_gallery
        assert ds.metainfo['num_queries'] == num_gallery * num_caps
        assert len(ds) == num_gallery * (1 + num_caps)
        infos = [ds.get_data_info(i) for i in range(len(ds))]
        gallery, queries = infos[:num_gallery], infos[num_gallery:]
        assert [i['modality'] for i in gallery] == ['image'] * num_gallery
        assert {i['modality'] for i in queries} == {'text'}
        # Evaluation keeps the original ids, shared by query and gallery.
        assert {i['pid'] for i in gallery} == set(IDS[split])
        assert {i['pid'] for i in queries} == set(IDS[split])
        assert 'num_ids' not in ds.metainfo
        assert ds[0]['img'].shape == (16, 8, 3)
        query = ds[num_gallery]
        assert 'img' not in query and 'img_path' not in query
        assert query['caption'] and osp.isfile(query['gallery_img_path'])


def test_default_query_pipeline_packs(tmp_path):
    transforms = pytest.importorskip('tbps.datasets.transforms')
    if not hasattr(transforms, 'PackTBPSInputs'):
        pytest.skip('PackTBPSInputs is not available yet')
    _benchmark(tmp_path, 'cuhk')
    ds = CUHKPEDES(data_root=str(tmp_path), split='test')
    packed = ds[len(ds) - 1]
    assert packed['inputs'] is None
    assert packed['data_samples'].modality == 'text'


@pytest.mark.parametrize('serialize', [True, False])
def test_pids_cached_and_subsets(tmp_path, serialize):
    _benchmark(tmp_path, 'cuhk')
    ds = CUHKPEDES(data_root=str(tmp_path), serialize_data=serialize)
    pids = [ds.get_data_info(i)['pid'] for i in range(len(ds))]
    assert ds.pids == pids
    sub = ds.get_subset([5, 0, 11])
    assert sub.pids == [pids[5], pids[0], pids[11]]
    assert ds.pids == pids
    ds.get_subset_(3)
    assert ds.pids == pids[:3]
    lazy = CUHKPEDES(data_root=str(tmp_path), lazy_init=True, indices=4,
                     serialize_data=serialize)
    assert lazy.pids == pids[:4]


def test_build_from_registry(tmp_path):
    _benchmark(tmp_path, 'rstp')
    ds = DATASETS.build(dict(type='RSTPReid', data_root=str(tmp_path),
                             split='val', query_pipeline=[]))
    assert isinstance(ds, RSTPReid)
    assert ds.metainfo['dataset_name'] == 'RSTPReid'


# ---------------------------------------------------------------- errors
@pytest.mark.parametrize('cls', [CUHKPEDES, ICFGPEDES, RSTPReid, MALS])
def test_missing_annotation_file(tmp_path, cls):
    with pytest.raises(FileNotFoundError,
                       match=rf'{re.escape(str(tmp_path))}.*Data preparation'):
        cls(data_root=str(tmp_path))


def test_malformed_json(tmp_path):
    (tmp_path / 'reid_raw.json').write_text('[{"split": "train",')
    with pytest.raises(AnnotationError, match=r'reid_raw\.json is not valid'):
        CUHKPEDES(data_root=str(tmp_path))


def test_not_a_list(tmp_path):
    _write_json(tmp_path / 'data_captions.json', {'split': 'train'})
    with pytest.raises(AnnotationError, match='must hold a JSON list'):
        RSTPReid(data_root=str(tmp_path))


def test_missing_key(tmp_path):
    _, records = _benchmark(tmp_path, 'rstp')
    del records[3]['img_path']
    _write_json(tmp_path / 'data_captions.json', records)
    with pytest.raises(AnnotationError,
                       match=r"data_captions\.json record 3 lacks key\(s\) "
                             r"\['img_path'\]"):
        RSTPReid(data_root=str(tmp_path))


def test_unknown_split(tmp_path):
    _benchmark(tmp_path, 'cuhk')
    with pytest.raises(ValueError, match="Unknown split 'validation'"):
        CUHKPEDES(data_root=str(tmp_path), split='validation')


def test_split_without_records(tmp_path):
    _benchmark(tmp_path, 'cuhk', splits=('train', 'test'))
    with pytest.raises(AnnotationError, match="no images of split 'val'"):
        CUHKPEDES(data_root=str(tmp_path), split='val')


def _with_empty_captions(root):
    _, records = _benchmark(root, 'cuhk')
    records[2]['captions'][1] = '  '
    records[4]['captions'][0] = ''
    _write_json(root / 'reid_raw.json', records)


def test_empty_caption_skip_warns_once(tmp_path, monkeypatch):
    _with_empty_captions(tmp_path)
    logged = []
    monkeypatch.setattr(base_module, 'print_log',
                        lambda msg, **kw: logged.append(msg))
    ds = CUHKPEDES(data_root=str(tmp_path))
    assert len(ds) == 3 * 2 * 2 - 2
    assert len(logged) == 1
    assert 'skipped 2 empty caption(s)' in logged[0]
    assert 'record 2, caption 1' in logged[0]


def test_empty_caption_error(tmp_path):
    _with_empty_captions(tmp_path)
    with pytest.raises(AnnotationError,
                       match=r'reid_raw\.json: record 2 .*caption 1 is empty'):
        CUHKPEDES(data_root=str(tmp_path), empty_caption='error')
    with pytest.raises(ValueError, match="'skip' or 'error'"):
        CUHKPEDES(data_root=str(tmp_path), empty_caption='drop')


# ---------------------------------------------------------- ICFG-PEDES
def test_icfg_has_no_val(tmp_path):
    _benchmark(tmp_path, 'icfg', splits=('train', 'test'), num_caps=1)
    with pytest.raises(ValueError, match=r"no 'val' split.*split='test'.*"
                                         r'val_ids'):
        ICFGPEDES(data_root=str(tmp_path), split='val')


def test_icfg_val_ids_hold_out_train_identities(tmp_path):
    _benchmark(tmp_path, 'icfg', splits=('train', 'test'), num_caps=1)
    root = str(tmp_path)
    train = ICFGPEDES(data_root=root, split='train', val_ids=1)
    val = ICFGPEDES(data_root=root, split='val', val_ids=1,
                    query_pipeline=[])
    val_ids = {val.get_data_info(i)['pid'] for i in range(len(val))}
    train_ids = {train.get_data_info(i)['raw_pid'] for i in range(len(train))}
    assert len(val_ids) == 1 and val_ids < set(IDS['train'])
    assert train_ids == set(IDS['train']) - val_ids
    assert train.num_ids == 2
    again = ICFGPEDES(data_root=root, split='val', val_ids=1,
                      query_pipeline=[])
    assert again.get_data_info(0)['pid'] in val_ids  # fixed choice
    with pytest.raises(AnnotationError, match='only 3 training identities'):
        ICFGPEDES(data_root=root, split='val', val_ids=3)


# ---------------------------------------------------------------- MALS
def _mals_record(i, label=None, **over):
    rec = {'image': f'gene_crop/a/{i}.jpg', 'caption': f'a person number {i}',
           'image_id': f'a_{i}', 'label': label or [1, 0, -1] * 9}
    rec.update(over)
    return rec


def _mals(root, files=(('a.json', 3), ('b.json', 2))):
    (root / 'gene_attrs').mkdir()
    (root / 'gene_crop' / 'a').mkdir(parents=True)
    start = 0
    for fname, n in files:
        records = [_mals_record(start + i) for i in range(n)]
        for rec in records:
            _image(root / rec['image'])
        _write_json(root / 'gene_attrs' / fname, records)
        start += n


def test_mals_glob_list_and_single(tmp_path):
    _mals(tmp_path)
    root = str(tmp_path)
    ds = MALS(data_root=root, pipeline=LOAD)  # default 'gene_attrs/*.json'
    assert len(ds) == 5 and ds.num_ids == 5
    infos = [ds.get_data_info(i) for i in range(len(ds))]
    assert [i['pid'] for i in infos] == list(range(5))
    assert [i['raw_pid'] for i in infos] == list(range(5))
    assert {i['modality'] for i in infos} == {'pair'}
    assert infos[4]['attributes'] == [1, 0, -1] * 9
    assert infos[4]['img_path'] == osp.join(root, 'gene_crop/a/4.jpg')
    assert ds[4]['img'].shape == (16, 8, 3)
    assert len(MALS(data_root=root, ann_file='gene_attrs/b.json')) == 2
    listed = MALS(data_root=root, ann_file=['gene_attrs/b.json',
                                            'gene_attrs/a*.json'])
    assert len(listed) == 5
    assert listed.get_data_info(0)['caption'] == 'a person number 3'
    built = DATASETS.build(dict(type='MALS', data_root=root))
    assert isinstance(built, MALS)


def test_mals_same_image_id_is_one_identity(tmp_path):
    _mals(tmp_path, files=(('a.json', 3), ))
    records = [_mals_record(0), _mals_record(1), _mals_record(2)]
    records[2]['image_id'] = 'a_0'
    _write_json(tmp_path / 'gene_attrs' / 'a.json', records)
    ds = MALS(data_root=str(tmp_path))
    assert ds.num_ids == 2
    assert ds.pids == [0, 1, 0]


def test_mals_errors(tmp_path):
    _mals(tmp_path)
    root = str(tmp_path)
    with pytest.raises(ValueError, match="only split='train'"):
        MALS(data_root=root, split='test')
    with pytest.raises(FileNotFoundError,
                       match=r"no annotation file matches '.*nope/\*\.json'"):
        MALS(data_root=root, ann_file='nope/*.json')
    with pytest.raises(FileNotFoundError, match=r'gene_attrs/c\.json'):
        MALS(data_root=root, ann_file=['gene_attrs/a.json',
                                       'gene_attrs/c.json'])
    with pytest.raises(ValueError, match='empty list'):
        MALS(data_root=root, ann_file=[])

    def broken(record, match, **kwargs):
        records = [_mals_record(7), record]
        _write_json(tmp_path / 'gene_attrs' / 'b.json', records)
        with pytest.raises(AnnotationError, match=match):
            MALS(data_root=root, **kwargs)

    broken(_mals_record(8, label=[1] * 26),
           r'b\.json record 1 "label" must be a list of 27 .*got 26 values')
    broken(_mals_record(8, label=[1] * 26 + [2]),
           r'b\.json record 1 "label"\[26\] is 2')
    broken(_mals_record(8, label=[1] * 26 + ['1']),
           r"b\.json record 1 \"label\"\[26\] is '1'")
    broken(_mals_record(8, label=[[1]] * 27),
           r'b\.json record 1 "label"\[0\] is \[1\]')
    broken({k: v for k, v in _mals_record(8).items() if k != 'label'},
           r"b\.json record 1 lacks key\(s\) \['label'\]")
    broken(_mals_record(8, caption=''),
           r'b\.json: record 1 .*caption 0 is empty', empty_caption='error')


def test_cuhk_bad_split_and_id_name_the_record(tmp_path):
    import json

    from tbps.datasets import AnnotationError, CUHKPEDES
    good = dict(split='train', captions=['a man'], file_path='a.jpg', id=1)
    for bad, pattern in [(dict(good, split='validation'), "split 'validation'"),
                         (dict(good, id='x7'), "non-integer id 'x7'")]:
        (tmp_path / 'reid_raw.json').write_text(json.dumps([good, bad]))
        with pytest.raises(AnnotationError, match=f'record 1 .*{pattern}'):
            CUHKPEDES(data_root=str(tmp_path), split='train',
                      query_pipeline=[])
