"""ALBEF -> tbps checkpoint conversion (tools/model_converters/albef2tbps.py,
tbps.converters.albef) on generated checkpoints in ALBEF's real
key layouts, with real shape relations at small widths: ViT (patch 16,
384x384, 24x24 grid, width 48, depth 2), BERT (width 64, 12 layers of which
6-11 have cross-attention taking the 48-d image tokens), 256-d ITC
projections."""
import functools
import importlib.util
import math
import os
import os.path as osp

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.config import Config

from tbps.converters.albef import convert_albef_state_dict
from tbps.registry import MODELS

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

VIT = dict(width=48, depth=2, heads=2, mlp=192, patch=16, img=384)
BERT = dict(width=64, heads=2, inter=256, layers=12, fusion_layer=6,
            max_pos=512, type_vocab=2)
EMBED = 256
QUEUE = 64
TEMP = 0.0571
TINY_BERT = dict(hidden_size=BERT['width'],
                 num_attention_heads=BERT['heads'],
                 intermediate_size=BERT['inter'],
                 max_position_embeddings=BERT['max_pos'])
# Keys the converted checkpoint does not provide, by design.
ITC = 'heads.itc.loss_module.'
QUEUE_KEYS = {ITC + 'image_queue', ITC + 'text_queue', ITC + 'pid_queue',
              ITC + 'queue_ptr'}
LOCAL_KEYS = {'heads.local.image_proj.weight', 'heads.local.image_proj.bias',
              'heads.local.text_proj.weight', 'heads.local.text_proj.bias',
              'heads.local.loss_module.log_inv_temperature'}
MLM = 'heads.mlm.predictor.'
MLM_KEYS = {MLM + k for k in (
    'bias', 'decoder.bias', 'transform.dense.weight', 'transform.dense.bias',
    'transform.LayerNorm.weight', 'transform.LayerNorm.bias',
    'decoder.weight')}


def _tool():
    spec = importlib.util.spec_from_file_location(
        'albef2tbps',
        osp.join(REPO_ROOT, 'tools', 'model_converters', 'albef2tbps.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


TOOL = _tool()


# -- ALBEF checkpoints ------------------------------------------------------
class _Gen:
    """Random tensors: weights ~ N(0, 0.02), LayerNorm weights ~ 1 + N(0,
    0.1) (all distinct, so a wrong mapping shows)."""

    def __init__(self, seed):
        self.g = torch.Generator().manual_seed(seed)

    def __call__(self, *shape, ln=False):
        x = torch.randn(*shape, generator=self.g)
        return 1 + 0.1 * x if ln else 0.02 * x


def _linear(sd, gen, name, out_dim, in_dim):
    sd[f'{name}.weight'] = gen(out_dim, in_dim)
    sd[f'{name}.bias'] = gen(out_dim)


def _layer_norm(sd, gen, name, dim):
    sd[f'{name}.weight'] = gen(dim, ln=True)
    sd[f'{name}.bias'] = gen(dim)


def albef_vit(gen, prefix):
    """ALBEF's VisionTransformer (timm layout, no head)."""
    c, p = VIT['width'], VIT['patch']
    grid = VIT['img'] // p
    sd = {f'{prefix}.cls_token': gen(1, 1, c),
          f'{prefix}.pos_embed': gen(1, grid * grid + 1, c),
          f'{prefix}.patch_embed.proj.weight': gen(c, 3, p, p),
          f'{prefix}.patch_embed.proj.bias': gen(c)}
    for i in range(VIT['depth']):
        b = f'{prefix}.blocks.{i}'
        _layer_norm(sd, gen, f'{b}.norm1', c)
        _linear(sd, gen, f'{b}.attn.qkv', 3 * c, c)
        _linear(sd, gen, f'{b}.attn.proj', c, c)
        _layer_norm(sd, gen, f'{b}.norm2', c)
        _linear(sd, gen, f'{b}.mlp.fc1', VIT['mlp'], c)
        _linear(sd, gen, f'{b}.mlp.fc2', c, VIT['mlp'])
    _layer_norm(sd, gen, f'{prefix}.norm', c)
    return sd


def albef_bert(gen, prefix, vocab):
    """ALBEF's xbert BertModel: layers >= fusion_layer have cross-attention
    whose key/value take encoder_width (= ViT width) inputs."""
    h, inter = BERT['width'], BERT['inter']
    sd = {f'{prefix}.embeddings.position_ids':
          torch.arange(BERT['max_pos'])[None],
          f'{prefix}.embeddings.word_embeddings.weight': gen(vocab, h),
          f'{prefix}.embeddings.position_embeddings.weight':
          gen(BERT['max_pos'], h),
          f'{prefix}.embeddings.token_type_embeddings.weight':
          gen(BERT['type_vocab'], h)}
    _layer_norm(sd, gen, f'{prefix}.embeddings.LayerNorm', h)
    for i in range(BERT['layers']):
        lp = f'{prefix}.encoder.layer.{i}'
        blocks = ['attention']
        if i >= BERT['fusion_layer']:
            blocks.append('crossattention')
        for blk in blocks:
            kv_in = VIT['width'] if blk == 'crossattention' else h
            _linear(sd, gen, f'{lp}.{blk}.self.query', h, h)
            _linear(sd, gen, f'{lp}.{blk}.self.key', h, kv_in)
            _linear(sd, gen, f'{lp}.{blk}.self.value', h, kv_in)
            _linear(sd, gen, f'{lp}.{blk}.output.dense', h, h)
            _layer_norm(sd, gen, f'{lp}.{blk}.output.LayerNorm', h)
        _linear(sd, gen, f'{lp}.intermediate.dense', inter, h)
        _linear(sd, gen, f'{lp}.output.dense', h, inter)
        _layer_norm(sd, gen, f'{lp}.output.LayerNorm', h)
    return sd


def albef_mlm_head(gen, prefix, vocab, tied_bias=True):
    h = BERT['width']
    sd = {}
    _linear(sd, gen, f'{prefix}.predictions.transform.dense', h, h)
    _layer_norm(sd, gen, f'{prefix}.predictions.transform.LayerNorm', h)
    sd[f'{prefix}.predictions.decoder.weight'] = gen(vocab, h)
    sd[f'{prefix}.predictions.bias'] = gen(vocab)
    if tied_bias:  # xbert: self.decoder.bias = self.bias
        sd[f'{prefix}.predictions.decoder.bias'] = \
            sd[f'{prefix}.predictions.bias']
    return sd


def albef_state_dict(layout, vocab, seed=0):
    """``layout='retrieval'`` (mscoco.pth: BertModel text encoders,
    idx_queue) or ``'pretrain'`` (ALBEF_4M.pth: BertForMaskedLM)."""
    gen = _Gen(seed)
    sd = {}
    for m in ('', '_m'):
        sd.update(albef_vit(gen, f'visual_encoder{m}'))
        _linear(sd, gen, f'vision_proj{m}', EMBED, VIT['width'])
        if layout == 'pretrain':
            sd.update(albef_bert(gen, f'text_encoder{m}.bert', vocab))
            sd.update(albef_mlm_head(gen, f'text_encoder{m}.cls', vocab))
        else:
            sd.update(albef_bert(gen, f'text_encoder{m}', vocab))
        _linear(sd, gen, f'text_proj{m}', EMBED, BERT['width'])
        if not m:
            _linear(sd, gen, 'itm_head', 2, BERT['width'])
            sd['temp'] = torch.ones([]) * TEMP
    sd['image_queue'] = F.normalize(torch.randn(EMBED, QUEUE), dim=0)
    sd['text_queue'] = F.normalize(torch.randn(EMBED, QUEUE), dim=0)
    sd['queue_ptr'] = torch.zeros(1, dtype=torch.long)
    if layout == 'retrieval':
        sd['idx_queue'] = torch.full((1, QUEUE), -100)
    return sd


# -- tbps models --------------------------------------------------------------
def albef_cfg(config='configs/albef/albef_synth.py', img_size=(384, 384)):
    cfg = Config.fromfile(osp.join(REPO_ROOT, config))
    cfg.merge_from_dict({
        'model.image_encoder.arch': dict(
            embed_dims=VIT['width'], num_layers=VIT['depth'],
            num_heads=VIT['heads'], feedforward_channels=VIT['mlp']),
        'model.image_encoder.img_size': img_size,
        'model.image_encoder.patch_size': VIT['patch'],
        'model.text_encoder.config': TINY_BERT,
        'model.text_encoder.num_layers': BERT['fusion_layer'],
        'model.fusion_encoder.config': TINY_BERT,
        'model.fusion_encoder.num_layers':
        BERT['layers'] - BERT['fusion_layer'],
        'model.embed_dim': EMBED,
        'model.heads.itc.queue_size': QUEUE,
    })
    if 'local' in cfg.model.heads:
        cfg.model.heads.local.embed_dim = EMBED
    return cfg


def build(config='configs/albef/albef_synth.py', img_size=(384, 384)):
    torch.manual_seed(0)
    model = MODELS.build(albef_cfg(config, img_size).model)
    return model.eval()


@pytest.fixture(scope='module')
def albef_model():
    from mmengine.registry import init_default_scope
    init_default_scope('tbps')
    return build()


@pytest.fixture(scope='module')
def vocab(albef_model):
    return albef_model.tokenizer.vocab_size


def _load(model, sd):
    result = model.load_state_dict(dict(sd), strict=False)
    return set(result.missing_keys), set(result.unexpected_keys)


# -- mapping ------------------------------------------------------------------
SPOT_CHECKS = [
    # (ALBEF key, tbps key) for every rule, online and momentum.
    ('visual_encoder.cls_token', 'image_encoder.backbone.cls_token'),
    ('visual_encoder.pos_embed', 'image_encoder.backbone.pos_embed'),
    ('visual_encoder.patch_embed.proj.weight',
     'image_encoder.backbone.patch_embed.projection.weight'),
    ('visual_encoder.blocks.1.norm1.weight',
     'image_encoder.backbone.layers.1.ln1.weight'),
    ('visual_encoder.blocks.0.attn.qkv.weight',
     'image_encoder.backbone.layers.0.attn.qkv.weight'),
    ('visual_encoder.blocks.1.attn.proj.bias',
     'image_encoder.backbone.layers.1.attn.proj.bias'),
    ('visual_encoder.blocks.0.norm2.bias',
     'image_encoder.backbone.layers.0.ln2.bias'),
    ('visual_encoder.blocks.1.mlp.fc1.weight',
     'image_encoder.backbone.layers.1.ffn.layers.0.0.weight'),
    ('visual_encoder.blocks.1.mlp.fc2.bias',
     'image_encoder.backbone.layers.1.ffn.layers.1.bias'),
    ('visual_encoder.norm.weight', 'image_encoder.backbone.ln1.weight'),
    ('{t}embeddings.word_embeddings.weight',
     'text_encoder.bert.embeddings.word_embeddings.weight'),
    ('{t}embeddings.LayerNorm.bias',
     'text_encoder.bert.embeddings.LayerNorm.bias'),
    ('{t}encoder.layer.5.output.dense.weight',
     'text_encoder.bert.encoder.layer.5.output.dense.weight'),
    ('{t}encoder.layer.6.attention.self.query.weight',
     'fusion_encoder.layer.0.attention.self.query.weight'),
    ('{t}encoder.layer.11.crossattention.self.key.weight',
     'fusion_encoder.layer.5.crossattention.self.key.weight'),
    ('{t}encoder.layer.9.crossattention.output.LayerNorm.weight',
     'fusion_encoder.layer.3.crossattention.output.LayerNorm.weight'),
    ('vision_proj.weight', 'image_proj.proj.weight'),
    ('text_proj.bias', 'text_proj.proj.bias'),
    ('itm_head.weight', 'heads.itm.fc.weight'),
    ('visual_encoder_m.blocks.1.mlp.fc1.bias',
     'momentum.module.image_encoder.backbone.layers.1.ffn.layers.0.0.bias'),
    ('visual_encoder_m.norm.bias',
     'momentum.module.image_encoder.backbone.ln1.bias'),
    ('{tm}encoder.layer.3.attention.self.value.weight',
     'momentum.module.text_encoder.bert.encoder.layer.3.attention.self'
     '.value.weight'),
    ('vision_proj_m.weight', 'momentum.module.image_proj.proj.weight'),
    ('text_proj_m.bias', 'momentum.module.text_proj.proj.bias'),
]


@pytest.mark.parametrize('layout', ['retrieval', 'pretrain'])
def test_mapping_report_and_values(layout, vocab):
    src = albef_state_dict(layout, vocab)
    new, report = convert_albef_state_dict(
        {'model': src, 'epoch': 4, 'config': {'queue_size': QUEUE}})
    t = 'text_encoder.bert.' if layout == 'pretrain' else 'text_encoder.'
    tm = t.replace('text_encoder', 'text_encoder_m')
    for s, d in SPOT_CHECKS:
        assert new[d] is src[s.format(t=t, tm=tm)], (s, d)
    # Every converted tensor is a source tensor (nothing made up) apart
    # from the temperature and the EMA step counter.
    src_ids = {id(v) for v in src.values()}
    made = {k for k, v in new.items() if id(v) not in src_ids}
    assert made == {ITC + 'log_temperature', 'momentum.steps'}
    assert math.isclose(float(new[ITC + 'log_temperature'].exp()), TEMP,
                        rel_tol=1e-6)
    assert int(new['momentum.steps']) == 1
    assert report['unmapped'] == []
    assert (report['text_layers'], report['fusion_layers'],
            report['vision_depth']) == (6, 6, 2)
    assert report['pos_embed_tokens'] == 577
    assert report['temperature'] == pytest.approx(TEMP)
    dropped = {k for keys in report['dropped'].values() for k in keys}
    queues = {'image_queue', 'text_queue', 'queue_ptr'} | (
        {'idx_queue'} if layout == 'retrieval' else set())
    assert queues <= dropped
    assert any('queue' in reason for reason in report['dropped'])
    # Momentum fusion layers 6-11 are dropped, 0-5 kept.
    assert f'{tm}encoder.layer.6.crossattention.self.key.weight' in dropped
    assert f'{tm}encoder.layer.5.output.dense.bias' not in dropped
    if layout == 'pretrain':
        assert new[MLM + 'decoder.weight'] is \
            src['text_encoder.cls.predictions.decoder.weight']
        assert new[MLM + 'bias'] is src['text_encoder.cls.predictions.bias']
        # BERT's tied decoder bias is the same tensor.
        assert new[MLM + 'decoder.bias'] is \
            src['text_encoder.cls.predictions.decoder.bias']
        assert new[MLM + 'transform.LayerNorm.weight'] is \
            src['text_encoder.cls.predictions.transform.LayerNorm.weight']
        assert 'text_encoder_m.cls.predictions.decoder.weight' in dropped
    else:
        assert not any(k.startswith(MLM) for k in new)
    # Each source key is converted, dropped or reported: none lost silently.
    assert len(new) - 2 + len(dropped) + 1 == len(src)  # +1: temp


def test_no_momentum_drops_the_momentum_copies(vocab):
    src = albef_state_dict('retrieval', vocab)
    new, report = convert_albef_state_dict(src, momentum=False)
    assert not any(k.startswith('momentum.') for k in new)
    assert not report['momentum']
    assert 'visual_encoder_m.cls_token' in \
        report['dropped']['momentum encoders (--no-momentum)']


def test_bare_state_dict_and_errors(vocab):
    src = albef_state_dict('retrieval', vocab)
    src['some_new_head.weight'] = torch.zeros(2)
    new, report = convert_albef_state_dict(src)  # bare, no {'model': ...}
    assert report['unmapped'] == ['some_new_head.weight']
    with pytest.raises(ValueError, match='Not an ALBEF checkpoint'):
        convert_albef_state_dict({'state_dict': {'backbone.x': torch.ones(1)}})
    no_fusion = {k: v for k, v in src.items() if 'crossattention' not in k}
    with pytest.raises(ValueError, match='cross-attention'):
        convert_albef_state_dict(no_fusion)


@pytest.mark.parametrize('layout,config,missing', [
    ('retrieval', 'configs/albef/albef_synth.py', QUEUE_KEYS),
    ('retrieval', 'configs/laip/laip_synth.py',
     QUEUE_KEYS | LOCAL_KEYS | MLM_KEYS),
    ('pretrain', 'configs/laip/laip_synth.py', QUEUE_KEYS | LOCAL_KEYS),
    # AGA's TEM reads the MLM head from its start epoch: the pre-training
    # layout fills it (the aga_{cuhk,icfg,rstp} initialisation)
    ('pretrain', 'configs/aga/aga_synth.py', QUEUE_KEYS),
])
def test_loads_into_fusion_retriever(layout, config, missing, vocab):
    model = build(config)
    src = albef_state_dict(layout, vocab)
    new, _ = convert_albef_state_dict({'model': src})
    assert _load(model, new) == (missing, set())
    own = model.state_dict()
    for key, value in new.items():
        assert torch.equal(own[key], value.to(own[key].dtype)), key
    temperature = float(model.heads.itc.temperature.detach())
    assert temperature == pytest.approx(TEMP, rel=1e-6)
    assert int(model.momentum.steps) == 1
    # The first EMA update blends (keeps) the converted momentum weights.
    m_before = model.momentum.module.image_proj.proj.weight.clone()
    online = model.image_proj.proj.weight
    model.momentum.update_parameters(model._momentum_sources())
    m_after = model.momentum.module.image_proj.proj.weight
    assert torch.allclose(m_after, 0.995 * m_before + 0.005 * online,
                          atol=1e-7)


# -- numerical equivalence ----------------------------------------------------
def _strip(sd, prefix, skip=()):
    return {k[len(prefix):]: v for k, v in sd.items()
            if k.startswith(prefix) and not any(s in k for s in skip)}


@pytest.mark.parametrize('momentum', [False, True])
def test_vision_encoder_matches_timm(momentum, albef_model, vocab):
    from timm.models.vision_transformer import VisionTransformer
    src = albef_state_dict('retrieval', vocab, seed=1)
    new, _ = convert_albef_state_dict(src)
    _load(albef_model, new)
    ref = VisionTransformer(
        img_size=VIT['img'], patch_size=VIT['patch'], embed_dim=VIT['width'],
        depth=VIT['depth'], num_heads=VIT['heads'],
        mlp_ratio=VIT['mlp'] / VIT['width'], qkv_bias=True,
        class_token=True, num_classes=0, global_pool='token',
        norm_layer=functools.partial(nn.LayerNorm, eps=1e-6)).eval()
    prefix = 'visual_encoder_m.' if momentum else 'visual_encoder.'
    ref.load_state_dict(_strip(src, prefix), strict=True)
    encoder = (albef_model.momentum.module.image_encoder if momentum
               else albef_model.image_encoder)
    images = torch.randn(2, 3, VIT['img'], VIT['img'])
    with torch.no_grad():
        expected = ref.forward_features(images)
        cls, tokens = encoder(images)
    assert torch.allclose(cls, expected[:, 0], atol=1e-5)
    assert torch.allclose(tokens, expected, atol=1e-5)


def test_text_encoder_matches_transformers_bert(albef_model, vocab):
    from transformers import BertConfig, BertModel
    src = albef_state_dict('pretrain', vocab, seed=2)
    new, _ = convert_albef_state_dict(src)
    _load(albef_model, new)
    ref = BertModel(BertConfig(
        vocab_size=vocab, num_hidden_layers=BERT['fusion_layer'],
        **TINY_BERT), add_pooling_layer=False).eval()
    layers = _strip(src, 'text_encoder.bert.', skip=('position_ids', ))
    layers = {k: v for k, v in layers.items()
              if not k.startswith('encoder.layer.') or
              int(k.split('.')[2]) < BERT['fusion_layer']}
    ref.load_state_dict(layers, strict=True)
    ids = torch.randint(1, vocab, (3, 12))
    mask = torch.ones_like(ids)
    mask[1, 7:] = 0
    with torch.no_grad():
        expected = ref(input_ids=ids, attention_mask=mask).last_hidden_state
        cls, tokens = albef_model.text_encoder(ids, mask)
    assert torch.allclose(tokens, expected, atol=1e-5)
    assert torch.allclose(cls, expected[:, 0], atol=1e-5)


def _albef_fusion_reference(sd, prefix, text, text_mask, image):
    """ALBEF's xbert multimodal layers written out: self-attention, then
    cross-attention to the image tokens (key/value from encoder_width),
    then the FFN; post-LayerNorm, eps 1e-12."""
    heads = BERT['heads']

    def lin(x, name):
        return F.linear(x, sd[name + '.weight'], sd[name + '.bias'])

    def ln(x, name):
        return F.layer_norm(x, x.shape[-1:], sd[name + '.weight'],
                            sd[name + '.bias'], eps=1e-12)

    def split(x):
        return x.view(x.shape[0], x.shape[1], heads, -1).transpose(1, 2)

    def attention(name, x, ctx, add_mask):
        q, k, v = (split(lin(t, f'{name}.self.{n}'))
                   for t, n in ((x, 'query'), (ctx, 'key'), (ctx, 'value')))
        scores = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1]) + add_mask
        out = (scores.softmax(-1) @ v).transpose(1, 2).flatten(2)
        return ln(lin(out, f'{name}.output.dense') + x,
                  f'{name}.output.LayerNorm')

    add_mask = (1.0 - text_mask[:, None, None, :].float()) * -10000.0
    x = text
    for i in range(BERT['fusion_layer'], BERT['layers']):
        p = f'{prefix}encoder.layer.{i}'
        x = attention(f'{p}.attention', x, x, add_mask)
        x = attention(f'{p}.crossattention', x, image, 0.0)
        h = F.gelu(lin(x, f'{p}.intermediate.dense'))
        x = ln(lin(h, f'{p}.output.dense') + x, f'{p}.output.LayerNorm')
    return x


def test_fusion_encoder_matches_albef_layers(albef_model, vocab):
    src = albef_state_dict('retrieval', vocab, seed=3)
    new, _ = convert_albef_state_dict(src)
    _load(albef_model, new)
    text = torch.randn(2, 9, BERT['width'])
    mask = torch.ones(2, 9, dtype=torch.long)
    mask[0, 6:] = 0
    image = torch.randn(2, 17, VIT['width'])
    with torch.no_grad():
        fused, _ = albef_model.fusion_encoder(text, mask, image)
        expected = _albef_fusion_reference(src, 'text_encoder.', text, mask,
                                           image)
    keep = mask.bool()  # padded rows differ only by the mask constant
    assert torch.allclose(fused[keep], expected[keep], atol=1e-5)


# -- the tool ---------------------------------------------------------------


def test_cli_from_url_into_tall_model(http_root, tmp_path, monkeypatch,
                                      vocab):
    from mmengine.runner.checkpoint import load_checkpoint
    from mmpretrain.models.utils import resize_pos_embed
    root, base = http_root
    for var in ('http_proxy', 'HTTP_PROXY', 'https_proxy', 'HTTPS_PROXY',
                'all_proxy', 'ALL_PROXY'):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv('no_proxy', '127.0.0.1,localhost')
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch'))
    src = albef_state_dict('retrieval', vocab, seed=4)
    torch.save({'model': src, 'epoch': 4, 'config': {'queue_size': QUEUE}},
               str(root / 'mscoco.pth'))
    dst = tmp_path / 'out' / 'albef_mscoco_tbps.pth'
    assert TOOL.main([f'{base}/mscoco.pth', str(dst)]) == 0
    cache = tmp_path / 'tbps_home' / 'checkpoints'
    assert list(cache.rglob('mscoco.pth'))
    saved = torch.load(str(dst), weights_only=True)
    assert set(saved) == {'state_dict', 'meta'}
    assert saved['meta']['source'] == f'{base}/mscoco.pth'
    assert saved['meta']['albef_epoch'] == 4
    assert 'albef2tbps' in saved['meta']['converter']
    assert not [p for p in os.listdir(dst.parent) if p.endswith('.tmp')]

    # Loaded with mmengine into the 384x128 (24x8 grid) model that the
    # configs use: mmpretrain's hook resizes both position embeddings.
    model = build(img_size=(384, 128))
    load_checkpoint(model, str(dst), map_location='cpu', strict=False)
    expected = resize_pos_embed(src['visual_encoder.pos_embed'], (24, 24),
                                (24, 8), mode='bicubic', num_extra_tokens=1)
    expected_m = resize_pos_embed(src['visual_encoder_m.pos_embed'],
                                  (24, 24), (24, 8), mode='bicubic',
                                  num_extra_tokens=1)
    assert model.image_encoder.backbone.pos_embed.shape == (1, 193, 48)
    assert torch.allclose(model.image_encoder.backbone.pos_embed, expected)
    assert torch.allclose(
        model.momentum.module.image_encoder.backbone.pos_embed, expected_m)
    assert torch.equal(model.heads.itm.fc.weight, src['itm_head.weight'])
    with torch.no_grad():
        cls, tokens = model.image_encoder(torch.randn(1, 3, 384, 128))
    assert tokens.shape == (1, 193, 48)

    # Second run: served from the cache, --no-momentum.
    os.remove(root / 'mscoco.pth')
    dst2 = tmp_path / 'out' / 'no_momentum.pth'
    assert TOOL.main([f'{base}/mscoco.pth', str(dst2), '--no-momentum']) == 0
    saved = torch.load(str(dst2), weights_only=True)
    assert not any(k.startswith('momentum.') for k in saved['state_dict'])
    assert saved['meta']['momentum'] is False


def _tiny_config_file(tmp_path, base='configs/albef/albef_synth.py',
                      fit=True):
    cfg = albef_cfg(base) if fit else Config.fromfile(
        osp.join(REPO_ROOT, base))
    path = tmp_path / ('fit.py' if fit else 'unfit.py')
    cfg.dump(str(path))
    return str(path)


def test_cli_config_check(tmp_path, capsys, vocab):
    src_path = tmp_path / 'ALBEF_4M.pth'
    torch.save(albef_state_dict('pretrain', vocab, seed=5), str(src_path))
    dst = tmp_path / 'ok.pth'
    config = _tiny_config_file(tmp_path, 'configs/laip/laip_synth.py')
    report = TOOL.convert(str(src_path), str(dst), config=config)
    comparison = report['comparison']
    assert set(comparison['missing']) == QUEUE_KEYS | LOCAL_KEYS
    assert comparison['unexpected'] == [] and comparison['errors'] == []
    out = capsys.readouterr().out
    assert 'missing against the config model: 9' in out
    assert 'queues' in out and 'pretrain' in out
    assert dst.is_file()

    # A config whose widths differ: reported and nothing is written.
    bad = tmp_path / 'bad.pth'
    with pytest.raises(ValueError, match='do not fit'):
        TOOL.convert(str(src_path), str(bad),
                     config=_tiny_config_file(tmp_path, fit=False))
    assert not bad.exists()


def test_atomic_write(tmp_path, monkeypatch, vocab):
    src_path = tmp_path / 'mscoco.pth'
    torch.save({'model': albef_state_dict('retrieval', vocab)},
               str(src_path))
    dst = tmp_path / 'dst.pth'

    # Conversion fails: no output at all.
    torch.save({'model': {'backbone.x': torch.ones(1)}},
               str(tmp_path / 'other.pth'))
    with pytest.raises(ValueError):
        TOOL.main([str(tmp_path / 'other.pth'), str(dst)])
    assert not dst.exists()

    # Writing fails half-way: the old output stays intact, no temp file.
    dst.write_bytes(b'old checkpoint')

    def broken_save(obj, f):
        f.write(b'partial')
        raise OSError('disk full')

    monkeypatch.setattr(torch, 'save', broken_save)
    with pytest.raises(OSError, match='disk full'):
        TOOL.main([str(src_path), str(dst)])
    assert dst.read_bytes() == b'old checkpoint'
    assert sorted(os.listdir(tmp_path)) == ['dst.pth', 'mscoco.pth',
                                            'other.pth']
