"""APTM -> tbps checkpoint conversion (tools/model_converters/aptm2tbps.py,
tbps.converters.aptm) on generated checkpoints in the exact key layout of
Shuyu-XJTU/APTM's ``APTM_Retrieval.state_dict()``, at small widths with
APTM's shape relations: Swin (embed 32, depths 2-2-2-2, 128x64 input, one
window of 4 that shrinks, unshifted, to 4 and 2 in the last stages as
APTM's 8 does to 8 and 4 at 384x128; buffers included), BERT (width 64,
layers 0-1 text, 2-3 with cross-attention to the 256-d image tokens),
32-d projections, the build_mlp ITM head and the tied MLM head. The tbps
model is ``configs/_base_/models/aptm_swin_b_bert.py`` shrunk the same
way."""
import math
import os
import os.path as osp

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.config import Config

from tbps.converters import detect_format, to_tbps_state_dict
from tbps.converters.aptm import convert_aptm_state_dict
from tbps.registry import MODELS

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(REPO_ROOT, 'configs/_base_/models/aptm_swin_b_bert.py')

IMG = (128, 64)
SWIN = dict(embed=32, depths=[2, 2, 2, 2], heads=[1, 2, 4, 8], window=4)
WINDOWS = (4, 4, 4, 2)   # APTM's effective windows (its 8, 8, 8, 4)
SHIFTED = (True, True, False, False)
BERT = dict(width=64, heads=2, inter=128, layers=4, fusion_layer=2,
            max_pos=64)
EMBED = 32
TEMP = 0.0423
TINY_BERT = dict(hidden_size=BERT['width'],
                 num_attention_heads=BERT['heads'],
                 intermediate_size=BERT['inter'],
                 max_position_embeddings=BERT['max_pos'])
ITC = 'heads.itc.loss_module.'
MLM = 'heads.mlm.predictor.'


# -- APTM checkpoints -------------------------------------------------------
class _Gen:
    """Random tensors, all distinct so a wrong mapping shows: weights
    ~ N(0, std), LayerNorm weights ~ 1 + N(0, 0.1)."""

    def __init__(self, seed, std=0.1):
        self.g = torch.Generator().manual_seed(seed)
        self.std = std

    def __call__(self, *shape, ln=False, std=None):
        x = torch.randn(*shape, generator=self.g)
        return 1 + 0.1 * x if ln else (std or self.std) * x


def _linear(sd, gen, name, out_dim, in_dim, bias=True):
    sd[f'{name}.weight'] = gen(out_dim, in_dim)
    if bias:
        sd[f'{name}.bias'] = gen(out_dim)


def _layer_norm(sd, gen, name, dim):
    sd[f'{name}.weight'] = gen(dim, ln=True)
    sd[f'{name}.bias'] = gen(dim)


def aptm_stage_geometry(i):
    """(resolution, window, shift) of stage ``i`` by APTM's block rule:
    a map no larger than the window gets window = min(H, W), no shift."""
    res = (IMG[0] // 4 // 2 ** i, IMG[1] // 4 // 2 ** i)
    window, shift = SWIN['window'], SWIN['window'] // 2
    if min(res) <= window:
        window, shift = min(res), 0
    return res, window, shift


def aptm_relative_position_index(w):
    """WindowAttention.relative_position_index of APTM (Microsoft's code)."""
    coords = torch.stack(torch.meshgrid(torch.arange(w), torch.arange(w),
                                        indexing='ij')).flatten(1)
    rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0)
    rel = rel.contiguous()
    rel[:, :, 0] += w - 1
    rel[:, :, 1] += w - 1
    rel[:, :, 0] *= 2 * w - 1
    return rel.sum(-1)


def _windows(x, w):
    """APTM's window_partition: [B, H, W, C] -> [B*nW, w*w, C]."""
    b, h, wd, c = x.shape
    x = x.view(b, h // w, w, wd // w, w, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, w * w, c)


def aptm_attn_mask(res, w, s):
    """SwinTransformerBlock.attn_mask of a shifted APTM block."""
    img_mask = torch.zeros(1, *res, 1)
    slices = (slice(0, -w), slice(-w, -s), slice(-s, None))
    cnt = 0
    for hs in slices:
        for ws in slices:
            img_mask[:, hs, ws, :] = cnt
            cnt += 1
    windows = _windows(img_mask, w).squeeze(-1)
    mask = windows.unsqueeze(1) - windows.unsqueeze(2)
    return mask.masked_fill(mask != 0, -100.0).masked_fill(mask == 0, 0.0)


def aptm_swin(gen):
    """APTM's models/swin_transformer.SwinTransformer state dict (no
    classifier, no absolute position embedding)."""
    p = 'vision_encoder.'
    c = SWIN['embed']
    sd = {f'{p}patch_embed.proj.weight': gen(c, 3, 4, 4),
          f'{p}patch_embed.proj.bias': gen(c)}
    _layer_norm(sd, gen, f'{p}patch_embed.norm', c)
    for i, depth in enumerate(SWIN['depths']):
        res, w, shift = aptm_stage_geometry(i)
        for j in range(depth):
            b = f'{p}layers.{i}.blocks.{j}'
            if shift and j % 2:
                sd[f'{b}.attn_mask'] = aptm_attn_mask(res, w, shift)
            _layer_norm(sd, gen, f'{b}.norm1', c)
            sd[f'{b}.attn.relative_position_bias_table'] = gen(
                (2 * w - 1) ** 2, SWIN['heads'][i], std=1.0)
            sd[f'{b}.attn.relative_position_index'] = \
                aptm_relative_position_index(w)
            _linear(sd, gen, f'{b}.attn.qkv', 3 * c, c)
            _linear(sd, gen, f'{b}.attn.proj', c, c)
            _layer_norm(sd, gen, f'{b}.norm2', c)
            _linear(sd, gen, f'{b}.mlp.fc1', 4 * c, c)
            _linear(sd, gen, f'{b}.mlp.fc2', c, 4 * c)
        if i < len(SWIN['depths']) - 1:
            _linear(sd, gen, f'{p}layers.{i}.downsample.reduction', 2 * c,
                    4 * c, bias=False)
            _layer_norm(sd, gen, f'{p}layers.{i}.downsample.norm', 4 * c)
            c *= 2
    _layer_norm(sd, gen, f'{p}norm', c)
    return sd


def aptm_bert(gen, vocab, prefix='text_encoder.bert'):
    """APTM's models/bert.BertForMaskedLM (X-VLM's xbert): layers >=
    fusion_layer have ``crossattention`` with keys/values of the vision
    width; the LM head's decoder is tied to the word embeddings and its
    bias to ``predictions.bias``."""
    h, inter = BERT['width'], BERT['inter']
    vision = SWIN['embed'] * 8
    words = gen(vocab, h, std=0.02)
    sd = {f'{prefix}.embeddings.position_ids':
          torch.arange(BERT['max_pos'])[None],
          f'{prefix}.embeddings.word_embeddings.weight': words,
          f'{prefix}.embeddings.position_embeddings.weight':
          gen(BERT['max_pos'], h, std=0.02),
          f'{prefix}.embeddings.token_type_embeddings.weight':
          gen(2, h, std=0.02)}
    _layer_norm(sd, gen, f'{prefix}.embeddings.LayerNorm', h)
    for i in range(BERT['layers']):
        lp = f'{prefix}.encoder.layer.{i}'
        blocks = ['attention'] + (['crossattention']
                                  if i >= BERT['fusion_layer'] else [])
        for blk in blocks:
            kv_in = vision if blk == 'crossattention' else h
            _linear(sd, gen, f'{lp}.{blk}.self.query', h, h)
            _linear(sd, gen, f'{lp}.{blk}.self.key', h, kv_in)
            _linear(sd, gen, f'{lp}.{blk}.self.value', h, kv_in)
            _linear(sd, gen, f'{lp}.{blk}.output.dense', h, h)
            _layer_norm(sd, gen, f'{lp}.{blk}.output.LayerNorm', h)
        _linear(sd, gen, f'{lp}.intermediate.dense', inter, h)
        _linear(sd, gen, f'{lp}.output.dense', h, inter)
        _layer_norm(sd, gen, f'{lp}.output.LayerNorm', h)
    if prefix.endswith('.bert'):
        cls = 'text_encoder.cls.predictions'
        _linear(sd, gen, f'{cls}.transform.dense', h, h)
        _layer_norm(sd, gen, f'{cls}.transform.LayerNorm', h)
        sd[f'{cls}.decoder.weight'] = words
        sd[f'{cls}.bias'] = gen(vocab)
        sd[f'{cls}.decoder.bias'] = sd[f'{cls}.bias']
    return sd


def aptm_state_dict(vocab, seed=0, temp=TEMP, mlm=True):
    gen = _Gen(seed)
    sd = aptm_swin(gen)
    sd.update(aptm_bert(gen, vocab, 'text_encoder.bert' if mlm
                        else 'text_encoder'))
    h = BERT['width']
    _linear(sd, gen, 'vision_proj', EMBED, SWIN['embed'] * 8)
    _linear(sd, gen, 'text_proj', EMBED, h)
    sd['temp'] = torch.ones([]) * temp
    # build_mlp: Linear(h, 2h), LayerNorm(2h), GELU, Linear(2h, 2)
    _linear(sd, gen, 'itm_head.0', 2 * h, h)
    _layer_norm(sd, gen, 'itm_head.1', 2 * h)
    _linear(sd, gen, 'itm_head.3', 2, 2 * h)
    return sd


# -- APTM's Swin forward, written out --------------------------------------
def aptm_swin_forward(sd, images):
    """APTM's SwinTransformer.forward on its state dict: -> [B, 1+N, C],
    the average of the final-norm tokens first."""
    p = 'vision_encoder.'

    def ln(x, name):
        return F.layer_norm(x, x.shape[-1:], sd[name + '.weight'],
                            sd[name + '.bias'])

    def lin(x, name):
        return F.linear(x, sd[name + '.weight'], sd.get(name + '.bias'))

    x = F.conv2d(images, sd[p + 'patch_embed.proj.weight'],
                 sd[p + 'patch_embed.proj.bias'], stride=4)
    b, c, h, w = x.shape
    x = ln(x.flatten(2).transpose(1, 2), p + 'patch_embed.norm')
    for i, depth in enumerate(SWIN['depths']):
        _, win, shift = aptm_stage_geometry(i)
        heads, n = SWIN['heads'][i], win * win
        for j in range(depth):
            blk = f'{p}layers.{i}.blocks.{j}'
            s = shift if j % 2 else 0
            y = ln(x, blk + '.norm1').view(b, h, w, c)
            if s:
                y = torch.roll(y, (-s, -s), (1, 2))
            y = _windows(y, win)
            qkv = lin(y, blk + '.attn.qkv').reshape(-1, n, 3, heads,
                                                    c // heads)
            q, k, v = qkv.permute(2, 0, 3, 1, 4)
            attn = (q * (c // heads) ** -0.5) @ k.transpose(-2, -1)
            table = sd[blk + '.attn.relative_position_bias_table']
            index = sd[blk + '.attn.relative_position_index']
            attn = attn + table[index.view(-1)].view(n, n, -1).permute(
                2, 0, 1)[None]
            if s:
                mask = sd[blk + '.attn_mask']
                attn = (attn.view(-1, mask.shape[0], heads, n, n) +
                        mask[None, :, None]).view(-1, heads, n, n)
            y = (attn.softmax(-1) @ v).transpose(1, 2).reshape(-1, n, c)
            y = lin(y, blk + '.attn.proj').view(b, h // win, w // win, win,
                                                win, c)
            y = y.permute(0, 1, 3, 2, 4, 5).reshape(b, h, w, c)
            if s:
                y = torch.roll(y, (s, s), (1, 2))
            x = x + y.reshape(b, h * w, c)
            x = x + lin(F.gelu(lin(ln(x, blk + '.norm2'), blk + '.mlp.fc1')),
                        blk + '.mlp.fc2')
        if i < len(SWIN['depths']) - 1:
            g = x.view(b, h, w, c)
            g = torch.cat([g[:, 0::2, 0::2], g[:, 1::2, 0::2],
                           g[:, 0::2, 1::2], g[:, 1::2, 1::2]], -1)
            x = lin(ln(g.view(b, -1, 4 * c), f'{p}layers.{i}.downsample.norm'),
                    f'{p}layers.{i}.downsample.reduction')
            h, w, c = h // 2, w // 2, 2 * c
    x = ln(x, p + 'norm')
    return torch.cat([x.mean(1, keepdim=True), x], dim=1)


# -- tbps model -------------------------------------------------------------
def aptm_cfg(bert=None):
    cfg = Config.fromfile(CONFIG)
    cfg.merge_from_dict({
        'model.data_preprocessor.tokenizer': dict(
            _delete_=True, type='SynthPEDESTokenizer'),
        'model.image_encoder.arch': dict(
            _delete_=True, embed_dims=SWIN['embed'],
            depths=SWIN['depths'], num_heads=SWIN['heads']),
        'model.image_encoder.img_size': IMG,
        'model.image_encoder.window_sizes': WINDOWS,
        'model.image_encoder.drop_path_rate': 0.0,
        'model.text_encoder.config': bert or TINY_BERT,
        'model.text_encoder.num_layers': BERT['fusion_layer'],
        'model.fusion_encoder.config': bert or TINY_BERT,
        'model.fusion_encoder.num_layers':
        BERT['layers'] - BERT['fusion_layer'],
        'model.embed_dim': EMBED,
        'model.heads.itm.hidden_dim': 2 * BERT['width'],
    })
    return cfg


def build(bert=None):
    torch.manual_seed(0)
    return MODELS.build(aptm_cfg(bert).model).eval()


@pytest.fixture(scope='module')
def model():
    from mmengine.registry import init_default_scope
    init_default_scope('tbps')
    return build()


@pytest.fixture(scope='module')
def vocab(model):
    return model.tokenizer.vocab_size


# -- mapping ----------------------------------------------------------------
SPOT_CHECKS = [
    # (APTM key, tbps key), one per rule
    ('vision_encoder.patch_embed.proj.weight',
     'image_encoder.backbone.patch_embed.projection.weight'),
    ('vision_encoder.patch_embed.norm.bias',
     'image_encoder.backbone.patch_embed.norm.bias'),
    ('vision_encoder.layers.1.blocks.1.norm1.weight',
     'image_encoder.backbone.stages.1.blocks.1.norm1.weight'),
    ('vision_encoder.layers.3.blocks.0.attn.relative_position_bias_table',
     'image_encoder.backbone.stages.3.blocks.0.attn.w_msa'
     '.relative_position_bias_table'),
    ('vision_encoder.layers.0.blocks.1.attn.qkv.weight',
     'image_encoder.backbone.stages.0.blocks.1.attn.w_msa.qkv.weight'),
    ('vision_encoder.layers.2.blocks.0.attn.proj.bias',
     'image_encoder.backbone.stages.2.blocks.0.attn.w_msa.proj.bias'),
    ('vision_encoder.layers.2.blocks.1.norm2.bias',
     'image_encoder.backbone.stages.2.blocks.1.norm2.bias'),
    ('vision_encoder.layers.3.blocks.1.mlp.fc1.weight',
     'image_encoder.backbone.stages.3.blocks.1.ffn.layers.0.0.weight'),
    ('vision_encoder.layers.0.blocks.0.mlp.fc2.bias',
     'image_encoder.backbone.stages.0.blocks.0.ffn.layers.1.bias'),
    ('vision_encoder.norm.weight', 'image_encoder.backbone.norm3.weight'),
    ('text_encoder.bert.embeddings.word_embeddings.weight',
     'text_encoder.bert.embeddings.word_embeddings.weight'),
    ('text_encoder.bert.embeddings.LayerNorm.bias',
     'text_encoder.bert.embeddings.LayerNorm.bias'),
    ('text_encoder.bert.encoder.layer.1.output.dense.weight',
     'text_encoder.bert.encoder.layer.1.output.dense.weight'),
    ('text_encoder.bert.encoder.layer.2.attention.self.query.weight',
     'fusion_encoder.layer.0.attention.self.query.weight'),
    ('text_encoder.bert.encoder.layer.3.crossattention.self.key.weight',
     'fusion_encoder.layer.1.crossattention.self.key.weight'),
    ('text_encoder.bert.encoder.layer.2.crossattention.output.LayerNorm'
     '.bias', 'fusion_encoder.layer.0.crossattention.output.LayerNorm.bias'),
    ('text_encoder.cls.predictions.transform.dense.weight',
     MLM + 'transform.dense.weight'),
    ('text_encoder.cls.predictions.decoder.weight', MLM + 'decoder.weight'),
    ('text_encoder.cls.predictions.bias', MLM + 'bias'),
    ('text_encoder.cls.predictions.decoder.bias', MLM + 'decoder.bias'),
    ('vision_proj.weight', 'image_proj.proj.weight'),
    ('text_proj.bias', 'text_proj.proj.bias'),
    ('itm_head.0.weight', 'heads.itm.fc.0.weight'),
    ('itm_head.1.weight', 'heads.itm.fc.1.weight'),
    ('itm_head.3.bias', 'heads.itm.fc.3.bias'),
]


def test_mapping_report_and_values(vocab):
    src = aptm_state_dict(vocab)
    new, report = convert_aptm_state_dict({'model': src, 'config': {}})
    for s, d in SPOT_CHECKS:
        assert new[d] is src[s], (s, d)
    # Everything else converted is a source tensor too, except the
    # temperature, the derived index buffers and the reordered
    # patch-merging weights (checked by the forward test).
    src_ids = {id(v) for v in src.values()}
    made = {k for k, v in new.items() if id(v) not in src_ids}
    derived = {k for k in new if k.endswith('relative_position_index')}
    assert set(report['derived']) == derived
    assert len(derived) == sum(SWIN['depths'])
    merging = {k for k in new if '.downsample.' in k}
    assert len(merging) == 3 * 3
    assert made == derived | merging | {ITC + 'log_inv_temperature'}
    # tbps stores log(1/tau); APTM divides by tau
    assert math.isclose(float(new[ITC + 'log_inv_temperature']),
                        -math.log(TEMP), rel_tol=1e-6)
    for key in derived:  # mmpretrain's index = APTM's buffer
        aptm = key.replace('image_encoder.backbone.stages',
                           'vision_encoder.layers').replace('.w_msa', '')
        assert torch.equal(new[key], src[aptm]), key
    assert report['unmapped'] == []
    assert report['windows'] == list(WINDOWS)
    assert report['swin_depths'] == SWIN['depths']
    assert (report['text_layers'], report['fusion_layers']) == (2, 2)
    assert report['temperature'] == pytest.approx(TEMP)
    assert not report['clamped'] and report['mlm_head']
    dropped = {k for keys in report['dropped'].values() for k in keys}
    masks = {k for k in src if k.endswith('attn_mask')}
    assert [aptm_stage_geometry(i)[2] > 0 for i in range(4)] == \
        list(SHIFTED)
    assert len(masks) == 2  # the shifted blocks of stages 0 and 1
    assert masks <= dropped
    assert 'text_encoder.bert.embeddings.position_ids' in dropped
    # Each source key is converted, dropped or reported: none lost.
    assert len(new) - len(derived) + len(dropped) == len(src)


def test_no_mlm_layout_small_temperature_and_errors(vocab):
    src = aptm_state_dict(vocab, temp=0.005, mlm=False)
    new, report = convert_aptm_state_dict(src)  # bare state dict
    assert report['layout'].startswith('no MLM')
    assert not any(k.startswith(MLM) for k in new)
    assert new['fusion_encoder.layer.1.crossattention.self.value.bias'] is \
        src['text_encoder.encoder.layer.3.crossattention.self.value.bias']
    assert report['clamped']
    with pytest.raises(ValueError, match='Not an APTM'):
        convert_aptm_state_dict({'model': {'vision_encoder.norm.weight':
                                           torch.ones(2)}})
    no_cross = {k: v for k, v in src.items() if 'crossattention' not in k}
    with pytest.raises(ValueError, match='cross-attention'):
        convert_aptm_state_dict(no_cross)


def test_strict_load_and_numerics(model, vocab):
    src = aptm_state_dict(vocab, seed=1)
    assert detect_format(src) == 'aptm'
    new, fmt, _ = to_tbps_state_dict({'model': src, 'config': {}})
    assert fmt == 'aptm'
    model.load_state_dict(new, strict=True)
    assert float(model.heads.itc.loss_module.temperature.detach()) == \
        pytest.approx(TEMP, rel=1e-6)

    # Image side: APTM's get_vision_embeds + get_features
    images = torch.randn(2, 3, *IMG, generator=torch.Generator()
                         .manual_seed(0))
    with torch.no_grad():
        feats = model.extract_image_feat(images)
        expected = aptm_swin_forward(src, images)
    assert feats['tokens'].shape == (2, 1 + 4 * 2, SWIN['embed'] * 8)
    assert (feats['tokens'] - expected).abs().max() < 1e-4
    expected_global = F.linear(expected[:, 0], src['vision_proj.weight'],
                               src['vision_proj.bias'])
    assert (feats['global'] - expected_global).abs().max() < 1e-4

    # ITM: APTM's build_mlp with its itm_head weights
    mlp = nn.Sequential(nn.Linear(64, 128), nn.LayerNorm(128), nn.GELU(),
                        nn.Linear(128, 2))
    mlp.load_state_dict({k[len('itm_head.'):]: v for k, v in src.items()
                         if k.startswith('itm_head.')})
    fused = torch.randn(5, BERT['width'])
    with torch.no_grad():
        assert torch.allclose(model.heads.itm(fused), mlp(fused), atol=1e-6)

    # Loaded raw, an APTM file is refused with the converter's name.
    with pytest.raises(RuntimeError, match='aptm2tbps'):
        model.load_state_dict(src, strict=False)


def _config_file(tmp_path, name, bert=None):
    path = tmp_path / name
    aptm_cfg(bert).dump(str(path))
    return str(path)


def test_cli(tmp_path, load_tool, capsys, vocab):
    from mmengine.runner.checkpoint import load_checkpoint
    tool = load_tool('tools/model_converters/aptm2tbps.py')
    src = aptm_state_dict(vocab, seed=2)
    src_path = tmp_path / 'aptm_cuhk.pth'
    torch.save({'model': src, 'config': {'h': 384, 'w': 128, 'temp': 0.07,
                                         'mlm': True, 'other': [1]}},
               str(src_path))
    dst = tmp_path / 'out' / 'aptm_cuhk_tbps.pth'
    assert tool.main([str(src_path), str(dst), '--config',
                      _config_file(tmp_path, 'fit.py')]) == 0
    out = capsys.readouterr().out
    assert 'missing against the config model: 0' in out
    assert 'unexpected against the config model: 0' in out
    assert 'windows [4, 4, 4, 2]' in out
    saved = torch.load(str(dst), weights_only=True)
    assert set(saved) == {'state_dict', 'meta'}
    meta = saved['meta']
    assert 'aptm2tbps' in meta['converter']
    assert meta['aptm_config'] == {'h': 384, 'w': 128, 'temp': 0.07,
                                   'mlm': True}
    assert meta['unmapped'] == [] and meta['derived'] == 8
    assert not [p for p in os.listdir(dst.parent) if p.endswith('.tmp')]
    model = build()
    load_checkpoint(model, str(dst), map_location='cpu', strict=True)
    assert torch.equal(model.heads.itm.fc[3].weight, src['itm_head.3.weight'])

    # A config of another BERT width: reported, nothing written.
    bad = tmp_path / 'bad.pth'
    with pytest.raises(ValueError, match='do not fit'):
        tool.main([str(src_path), str(bad), '--config', _config_file(
            tmp_path, 'unfit.py', dict(TINY_BERT, hidden_size=32))])
    assert not bad.exists()
