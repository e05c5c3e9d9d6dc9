"""Hugging Face BERT -> tbps initialisation (tools/model_converters/
bert2tbps.py, tbps.converters.bert) on a tiny BERT saved by transformers
(``save_pretrained``: ``model.safetensors``) and in the 2018 release's
``pytorch_model.bin`` layout (``LayerNorm.gamma`` / ``.beta``, a stored
LM decoder, ``position_ids``), loaded into a tiny ``aptm_synth.py`` model
and, through mmengine's ``Pretrained`` init, into a tiny
``aptm_mals_pretrain.py`` model together with a converted official Swin."""
import math
import os.path as osp

import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config

from tbps.converters.bert import (compare_with_bert_targets,
                                  convert_bert_state_dict,
                                  load_bert_checkpoint, resolve_bert_source)
from tbps.converters.swin import convert_swin_state_dict
from tbps.registry import MODELS
from tbps.utils.fileio import torch_save_atomic

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
LAYERS, K = 4, 2
TINY_BERT = dict(hidden_size=32, num_attention_heads=2, intermediate_size=64,
                 max_position_embeddings=64)
MLM = 'heads.mlm.predictor.'
# a tiny Swin in the official release's layout (window 7); APTM's model
# runs it at 384x128 with windows 8, 8, 8, 4
SWIN = dict(embed_dims=16, depths=[2, 1, 1, 1], num_heads=[1, 2, 2, 4])


def tiny_cfg(config, aptm_geometry=False):
    """``config``'s model with the SynthPEDES tokenizer and BERT / Swin
    shrunk (text layers ``K``, fusion layers ``LAYERS - K``); the images
    small unless ``aptm_geometry`` (APTM's 384x128, windows 8, 8, 8, 4)."""
    cfg = Config.fromfile(osp.join(REPO_ROOT, config))
    cfg.merge_from_dict({
        'model.data_preprocessor.tokenizer': dict(
            _delete_=True, type='SynthPEDESTokenizer'),
        'model.image_encoder.arch': dict(_delete_=True, **SWIN),
        'model.image_encoder.drop_path_rate': 0.0,
        'model.text_encoder.config': TINY_BERT,
        'model.text_encoder.num_layers': K,
        'model.fusion_encoder.config': TINY_BERT,
        'model.fusion_encoder.num_layers': LAYERS - K,
        'model.embed_dim': 16,
        'model.heads.itm.hidden_dim': 16,
    })
    if not aptm_geometry:
        cfg.model.image_encoder.img_size = (64, 32)
        cfg.model.image_encoder.window_sizes = (4, 4, 2, 2)
    return cfg


@pytest.fixture(scope='module')
def model():
    from mmengine.registry import init_default_scope
    init_default_scope('tbps')
    torch.manual_seed(0)
    return MODELS.build(tiny_cfg('configs/aptm/aptm_synth.py').model).eval()


@pytest.fixture(scope='module')
def hf_bert(model):
    """BertForPreTraining with the model's vocabulary, weights moved away
    from their initialisation (LayerNorm 1 / bias 0 hide a wrong
    mapping)."""
    from transformers import BertConfig, BertForPreTraining
    torch.manual_seed(1)
    bert = BertForPreTraining(BertConfig(
        vocab_size=model.tokenizer.vocab_size, num_hidden_layers=LAYERS,
        **TINY_BERT))
    with torch.no_grad():
        for p in bert.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return bert.eval()


def official_bin(bert):
    """``bert-base-uncased``'s pytorch_model.bin layout: 2018 LayerNorm
    names, the tied LM decoder weight stored (its bias only as
    ``cls.predictions.bias``), a position_ids buffer."""
    sd = {}
    for key, value in bert.state_dict().items():
        key = key.replace('LayerNorm.weight', 'LayerNorm.gamma')
        sd[key.replace('LayerNorm.bias', 'LayerNorm.beta')] = value.clone()
    assert 'cls.predictions.decoder.weight' in sd
    del sd['cls.predictions.decoder.bias']
    sd['bert.embeddings.position_ids'] = torch.arange(64)[None]
    return sd


@pytest.fixture(scope='module')
def folders(hf_bert, tmp_path_factory):
    """``{'safetensors': folder, 'bin': folder, 'bertmodel': folder}``."""
    root = tmp_path_factory.mktemp('bert')
    out = {name: root / name for name in ('safetensors', 'bin', 'bertmodel')}
    hf_bert.save_pretrained(str(out['safetensors']))
    hf_bert.bert.save_pretrained(str(out['bertmodel']))
    out['bin'].mkdir()
    torch.save(official_bin(hf_bert), str(out['bin'] / 'pytorch_model.bin'))
    return {k: str(v) for k, v in out.items()}


def convert(folder, text_layers=K):
    path, _ = resolve_bert_source(folder)
    return convert_bert_state_dict(load_bert_checkpoint(path),
                                   text_layers=text_layers)


def cross_attention_keys(model):
    return {k for k in model.state_dict()
            if k.startswith('fusion_encoder.') and '.crossattention.' in k}


def test_mapping_report_and_layouts(folders, hf_bert, model):
    assert {osp.basename(resolve_bert_source(f)[0])
            for f in folders.values()} == {'model.safetensors',
                                           'pytorch_model.bin'}
    new, report = convert(folders['safetensors'])
    src = hf_bert.state_dict()
    pairs = [
        ('bert.embeddings.word_embeddings.weight',
         'text_encoder.bert.embeddings.word_embeddings.weight'),
        ('bert.embeddings.LayerNorm.bias',
         'text_encoder.bert.embeddings.LayerNorm.bias'),
        ('bert.encoder.layer.1.output.dense.weight',
         'text_encoder.bert.encoder.layer.1.output.dense.weight'),
        ('bert.encoder.layer.2.attention.self.query.weight',
         'fusion_encoder.layer.0.attention.self.query.weight'),
        ('bert.encoder.layer.3.intermediate.dense.bias',
         'fusion_encoder.layer.1.intermediate.dense.bias'),
        ('cls.predictions.transform.LayerNorm.weight',
         MLM + 'transform.LayerNorm.weight'),
        ('cls.predictions.bias', MLM + 'bias'),
        # tied in BERT, not stored by save_pretrained: derived
        ('cls.predictions.decoder.weight', MLM + 'decoder.weight'),
        ('cls.predictions.bias', MLM + 'decoder.bias'),
    ]
    for s, d in pairs:
        assert torch.equal(new[d], src[s]), (s, d)
    assert report['layout'].startswith('BertForPreTraining')
    assert (report['num_layers'], report['text_layers'],
            report['fusion_layers']) == (LAYERS, K, LAYERS - K)
    assert report['mlm_head'] and report['unmapped'] == []
    assert set(report['derived']) == {MLM + 'decoder.weight',
                                      MLM + 'decoder.bias'}
    assert set(report['not_in_bert']) == cross_attention_keys(model)
    dropped = {k for v in report['dropped'].values() for k in v}
    assert dropped == {k for k in src if k.startswith(
        ('bert.pooler.', 'cls.seq_relationship.'))}

    # the 2018 .bin layout converts to the same tensors
    old, old_report = convert(folders['bin'])
    assert set(old) == set(new)
    assert all(torch.equal(old[k], new[k]) for k in new)
    # LayerNorms: embeddings, two per layer, the LM head's transform
    assert len(old_report['renamed']) == 2 * (1 + 2 * LAYERS + 1)
    assert old_report['derived'] == [MLM + 'decoder.bias']
    assert 'bert.embeddings.position_ids' in {
        k for v in old_report['dropped'].values() for k in v}

    # BertModel's files: no prefix, no MLM head
    plain, plain_report = convert(folders['bertmodel'])
    assert plain_report['layout'].startswith('BertModel')
    assert not plain_report['mlm_head']
    assert set(plain) == {k for k in new if not k.startswith(MLM)}
    assert all(torch.equal(plain[k], new[k]) for k in plain)


def test_errors(hf_bert):
    src = hf_bert.state_dict()
    with pytest.raises(ValueError, match='Not a BERT'):
        convert_bert_state_dict({'x.weight': torch.ones(1)})
    with pytest.raises(ValueError, match='text_layers must be in 1..3'):
        convert_bert_state_dict(src, text_layers=LAYERS)
    albef = dict(src)
    albef['bert.encoder.layer.3.crossattention.self.key.weight'] = \
        torch.ones(1)
    with pytest.raises(ValueError, match='albef2tbps'):
        convert_bert_state_dict(albef)


def test_loaded_model_computes_bert(folders, hf_bert, model):
    new, report = convert(folders['bin'])
    cross = {k: v.clone() for k, v in model.state_dict().items()
             if k in cross_attention_keys(model)}
    comparison = compare_with_bert_targets(new, model)
    assert comparison['unexpected'] == [] and comparison['errors'] == []
    assert set(comparison['missing']) == set(report['not_in_bert'])
    # cross-attention keeps the model's own initialisation
    state = model.state_dict()
    assert all(torch.equal(state[k], v) for k, v in cross.items())

    ids = torch.randint(5, model.tokenizer.vocab_size, (3, 9),
                        generator=torch.Generator().manual_seed(0))
    mask = torch.ones_like(ids)
    mask[1, 6:] = 0
    with torch.no_grad():
        _, tokens = model.text_encoder(ids, mask)
        hidden = hf_bert.bert(ids, attention_mask=mask,
                              output_hidden_states=True).hidden_states
    # the text encoder is BERT's first K layers
    assert (tokens - hidden[K]).abs().max() < 1e-5
    # fusion layer j is BERT layer K + j without its cross-attention
    for j, layer in enumerate(model.fusion_encoder.layer):
        bert_layer = hf_bert.bert.encoder.layer[K + j]
        for name, p in bert_layer.named_parameters():
            own = layer.get_parameter(name)
            assert torch.equal(own, p), (j, name)
    # the MLM head is BERT's LM head
    with torch.no_grad():
        expected = hf_bert.cls.predictions(hidden[-1])
        logits = model.heads.mlm(hidden[-1])
    assert (logits - expected).abs().max() < 1e-5


def test_cli_url_zoo_and_config_check(folders, hf_bert, tmp_path, load_tool,
                                      http_root, monkeypatch):
    tool = load_tool('tools/model_converters/bert2tbps.py')
    expected, _ = convert(folders['safetensors'])
    config = tmp_path / 'tiny.py'
    config.write_text(
        f"_base_ = [{osp.join(REPO_ROOT, 'configs/aptm/aptm_synth.py')!r}]\n"
        f'tiny = {TINY_BERT!r}\n'
        'model = dict(image_encoder=dict(arch=dict(embed_dims=16)),\n'
        f'    text_encoder=dict(config=tiny, num_layers={K}),\n'
        f'    fusion_encoder=dict(config=tiny, num_layers={LAYERS - K}))\n')
    dst = tmp_path / 'out' / 'bert_tbps.pth'
    assert tool.main([folders['safetensors'], str(dst), '--text-layers',
                      str(K)]) == 0
    saved = torch.load(str(dst), weights_only=True)
    assert set(saved['state_dict']) == set(expected)
    assert all(torch.equal(saved['state_dict'][k], v)
               for k, v in expected.items())
    meta = saved['meta']
    assert meta['text_layers'] == K and meta['mlm_head']
    assert meta['not_in_bert'] == 10 * (LAYERS - K)
    assert len(meta['source_sha256']) == 64

    # a URL, downloaded into tbps's cache
    root, base = http_root
    (root / 'model.safetensors').write_bytes(
        open(osp.join(folders['safetensors'], 'model.safetensors'),
             'rb').read())
    report = tool.convert(f'{base}/model.safetensors', str(tmp_path / 'u.pth'),
                          text_layers=K, log=lambda *a: None)
    assert report['mlm_head']

    # the zoo's bert-base-uncased entry: a Hugging Face name, read from the
    # hub cache (offline)
    from huggingface_hub import constants
    hub = tmp_path / 'hub'
    snapshot = hub / 'models--bert-base-uncased' / 'snapshots' / 'abc'
    snapshot.mkdir(parents=True)
    (hub / 'models--bert-base-uncased' / 'refs').mkdir()
    (hub / 'models--bert-base-uncased' / 'refs' / 'main').write_text('abc')
    monkeypatch.setattr(constants, 'HF_HUB_CACHE', str(hub))
    monkeypatch.setattr(constants, 'HF_HUB_OFFLINE', True)
    with pytest.raises(FileNotFoundError, match='Hugging Face'):
        resolve_bert_source('bert-base-uncased', log=lambda *a: None)
    torch.save(official_bin(hf_bert), str(snapshot / 'pytorch_model.bin'))
    path, trusted = resolve_bert_source('bert-base-uncased',
                                        log=lambda *a: None)
    assert path.endswith('pytorch_model.bin') and not trusted

    # checked against a config's model: only the cross-attention missing
    report = tool.convert(folders['bin'], str(tmp_path / 'c.pth'),
                          text_layers=K, config=str(config),
                          log=lambda *a: None)
    assert set(report['comparison']['missing']) == \
        set(report['not_in_bert'])
    assert report['comparison']['unexpected'] == []
    # a model the result does not fit (wider BERT): nothing written
    wide = tmp_path / 'wide.py'
    wide.write_text(config.read_text().replace(
        "'hidden_size': 32", "'hidden_size': 64"))
    with pytest.raises(ValueError, match='nothing written'):
        tool.main([folders['safetensors'], str(tmp_path / 'bad.pth'),
                   '--text-layers', str(K), '--config', str(wide)])
    assert not (tmp_path / 'bad.pth').exists()


# -- APTM's pre-training initialisation (aptm_mals_pretrain.py) -------------
def official_swin(seed=0, window=7):
    """A Swin state dict in microsoft/Swin-Transformer's release layout
    (``{'model': ...}``, 7x7 windows, buffers and classifier included),
    ``SWIN``'s sizes."""
    g = torch.Generator().manual_seed(seed)

    def t(*shape):
        return 0.1 * torch.randn(*shape, generator=g)

    c = SWIN['embed_dims']
    sd = {'patch_embed.proj.weight': t(c, 3, 4, 4),
          'patch_embed.proj.bias': t(c),
          'patch_embed.norm.weight': 1 + t(c), 'patch_embed.norm.bias': t(c)}
    for i, (depth, heads) in enumerate(zip(SWIN['depths'],
                                           SWIN['num_heads'])):
        for j in range(depth):
            b = f'layers.{i}.blocks.{j}.'
            sd.update({
                b + 'norm1.weight': 1 + t(c), b + 'norm1.bias': t(c),
                b + 'attn.relative_position_bias_table':
                t((2 * window - 1) ** 2, heads),
                b + 'attn.relative_position_index': torch.zeros(
                    window ** 2, window ** 2, dtype=torch.long),
                b + 'attn.qkv.weight': t(3 * c, c), b + 'attn.qkv.bias':
                t(3 * c), b + 'attn.proj.weight': t(c, c),
                b + 'attn.proj.bias': t(c),
                b + 'norm2.weight': 1 + t(c), b + 'norm2.bias': t(c),
                b + 'mlp.fc1.weight': t(4 * c, c), b + 'mlp.fc1.bias':
                t(4 * c), b + 'mlp.fc2.weight': t(c, 4 * c),
                b + 'mlp.fc2.bias': t(c)})
        if i < len(SWIN['depths']) - 1:
            d = f'layers.{i}.downsample.'
            sd.update({d + 'reduction.weight': t(2 * c, 4 * c),
                       d + 'norm.weight': 1 + t(4 * c),
                       d + 'norm.bias': t(4 * c)})
            c *= 2
    sd.update({'norm.weight': 1 + t(c), 'norm.bias': t(c),
               'head.weight': t(5, c), 'head.bias': t(5)})
    return {'model': sd}


def bicubic_table(table, window):
    """A [(2w'-1)^2, heads] table resized to window ``window``."""
    src, dst = round(math.sqrt(table.shape[0])), 2 * window - 1
    grid = F.interpolate(table.t().reshape(1, -1, src, src), size=(dst, dst),
                         mode='bicubic', align_corners=False)
    return grid.reshape(-1, dst * dst).t()


def test_mals_pretrain_init_weights(folders, tmp_path):
    """aptm_mals_pretrain.py's init_cfg, pointed at a converted Swin and
    BERT: ``model.init_weights()`` (what the Runner calls before training)
    loads them, resizing the Swin tables from window 7 to 8 and 4."""
    swin_file = tmp_path / 'swin_tbps.pth'
    swin_sd, _ = convert_swin_state_dict(official_swin())
    torch_save_atomic(dict(state_dict=swin_sd, meta={}), str(swin_file))
    bert_file = tmp_path / 'bert_tbps.pth'
    bert_sd, report = convert(folders['bin'])
    torch_save_atomic(dict(state_dict=bert_sd, meta={}), str(bert_file))

    cfg = tiny_cfg('configs/aptm/aptm_mals_pretrain.py',
                   aptm_geometry=True)
    checkpoints = {'checkpoints/swin_base_22k_tbps.pth': str(swin_file),
                   'checkpoints/bert_base_uncased_tbps.pth': str(bert_file)}
    init_cfgs = [c for c in (cfg.model.get('init_cfg'),
                             *(cfg.model[m].get('init_cfg') for m in (
                                 'image_encoder', 'text_encoder',
                                 'fusion_encoder'))) if c]
    assert {c.checkpoint for c in init_cfgs} == set(checkpoints)
    for init_cfg in init_cfgs:
        init_cfg.checkpoint = checkpoints[init_cfg.checkpoint]
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    assert model.image_encoder.window_sizes == [8, 8, 8, 4]
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model.init_weights()
    state = model.state_dict()

    # Swin: every converted tensor arrived, the tables resized 7 -> 8 / 4
    for key, value in swin_sd.items():
        if key.endswith('relative_position_bias_table'):
            window = model.image_encoder.window_sizes[
                int(key.split('stages.')[1].split('.')[0])]
            assert state[key].shape == ((2 * window - 1) ** 2,
                                        value.shape[1])
            assert torch.allclose(state[key], bicubic_table(value, window),
                                  atol=1e-6), key
        else:
            assert torch.equal(state[key], value), key
    # BERT: text encoder, fusion self-attention / FFN and the MLM head
    assert any(k.startswith(MLM) for k in bert_sd)
    for key, value in bert_sd.items():
        assert torch.equal(state[key], value), key
    # not in BERT: the fusion cross-attention keeps its initialisation
    assert set(report['not_in_bert']) <= set(state)
    for key in report['not_in_bert']:
        assert torch.equal(state[key], before[key]), key
