"""The MALS-like synthetic pre-training corpus (make_synth_pedes.py
--preset mals): MALS's format, read by the MALS dataset, people disjoint
from the SynthPEDES it excludes, reproducible."""
import json
import os.path as osp

import numpy as np
import pytest

from tbps.datasets.synth import make_synth_mals
from tbps.datasets.synth.generate import _encode
from tbps.registry import DATASETS

TINY = dict(num_train_ids=12, num_val_ids=6, num_test_ids=6)  # conftest


@pytest.fixture(scope='module')
def corpus(tmp_path_factory):
    out = tmp_path_factory.mktemp('mals') / 'synth_mals'
    make_synth_mals(str(out), num_ids=40, views_per_id=2, num_workers=1,
                    exclude_synth_pedes=dict(seed=0, **TINY))
    return str(out)


def read(path):
    with open(path, encoding='utf-8') as f:
        return json.load(f)


def test_mals_format_one_caption_and_27_labels(corpus):
    records = read(osp.join(corpus, 'gene_attrs', 'synth_mals.json'))
    assert len(records) == 80
    for rec in records:
        assert set(rec) == {'image', 'caption', 'image_id', 'label'}
        assert isinstance(rec['caption'], str) and rec['caption']
        assert len(rec['label']) == 27 and set(rec['label']) <= {1, 0, -1}
        assert osp.isfile(osp.join(corpus, rec['image']))
    assert len({r['image_id'] for r in records}) == 80  # one per image
    dataset = DATASETS.build(dict(type='MALS', data_root=corpus,
                                  split='train', pipeline=[]))
    assert len(dataset) == 80
    info = dataset.get_data_info(3)
    assert info['attributes'] == records[3]['label']
    assert info['caption'] == records[3]['caption']


def test_people_are_disjoint_from_the_excluded_synth_pedes(
        corpus, tiny_synth_root):
    synth = read(osp.join(tiny_synth_root, 'identities.json'))
    assert len(synth) == sum(TINY.values())
    mals = read(osp.join(corpus, 'identities.json'))
    a = np.stack([_encode(i['factors']) for i in synth])
    b = np.stack([_encode(i['factors']) for i in mals])
    distance = (a[:, None] != b[None]).sum(-1)
    assert distance.min() >= 2
    within = (b[:, None] != b[None]).sum(-1) + 99 * np.eye(len(b), dtype=int)
    assert within.min() >= 2
    meta = read(osp.join(corpus, 'meta.json'))
    assert meta['generate_cfg']['exclude_synth_pedes']['num_train_ids'] == 12


def test_same_arguments_same_bytes(corpus, tmp_path):
    again = make_synth_mals(str(tmp_path / 'again'), num_ids=40,
                            views_per_id=2, num_workers=2,
                            exclude_synth_pedes=dict(seed=0, **TINY))
    name = osp.join('gene_attrs', 'synth_mals.json')
    with open(osp.join(corpus, name), 'rb') as f1, \
            open(osp.join(again, name), 'rb') as f2:
        assert f1.read() == f2.read()
    with pytest.raises(FileExistsError, match='overwrite'):
        make_synth_mals(again, num_ids=2)


def test_tool_preset(tmp_path, run_script):
    out = tmp_path / 'm'
    log = run_script(['tools/dataset_converters/make_synth_pedes.py',
                      '--preset', 'mals', '--out-dir', str(out),
                      '--num-ids', '5', '--workers', '1'])
    assert '5 people, 10 images (MALS format)' in log
    assert len(read(out / 'gene_attrs' / 'synth_mals.json')) == 10


def test_synth_mals_dataset_generates_on_first_use_and_checks_settings(
        tmp_path):
    root = str(tmp_path / 'corpus')
    cfg = dict(type='SynthMALS', data_root=root, split='train', pipeline=[],
               generate_cfg=dict(num_ids=6, views_per_id=1, num_workers=1))
    dataset = DATASETS.build(cfg)
    assert len(dataset) == 6 and osp.isfile(osp.join(
        root, 'gene_attrs', 'synth_mals.json'))
    assert len(DATASETS.build(cfg)) == 6  # read, not regenerated
    with pytest.raises(ValueError, match='does not match'):
        DATASETS.build(dict(cfg, generate_cfg=dict(num_ids=7)))
    with pytest.raises(FileNotFoundError, match='--preset mals'):
        DATASETS.build(dict(cfg, data_root=str(tmp_path / 'x'),
                            generate=False))
