"""OpenAI CLIP -> tbps conversion (tbps.converters.clip,
tools/model_converters/clip2tbps.py) against open_clip's own CLIP model:
a small randomly initialised ViT CLIP in OpenAI's state-dict layout
(vision width 128 / 2 layers / patch 32 at 224, text width 128 / 2 layers,
joint 64, QuickGELU), plain and as a TorchScript archive like OpenAI's
releases, served from a local HTTP server for the download path."""
import hashlib
import importlib.util
import os
import os.path as osp

import pytest
import torch

from tbps.converters.clip import (convert_clip_state_dict,
                                            load_openai_clip,
                                            resize_clip_pos_embed,
                                            sha256_from_url)
from tbps.registry import MODELS
from tbps.testing import (CLIP_TEXT as TEXT,
                          CLIP_VISION as VISION, open_clip_model,
                          tiny_clip_config)

os.environ.setdefault('HF_HUB_OFFLINE', '1')
REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
LOSS_KEYS = {'losses.itc.log_inv_temperature'}


def _tool():
    spec = importlib.util.spec_from_file_location(
        'clip2tbps',
        osp.join(REPO_ROOT, 'tools', 'model_converters', 'clip2tbps.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


TOOL = _tool()


@pytest.fixture(scope='module')
def reference():
    return open_clip_model()


def build(img_size=(224, 224)):
    from mmengine.registry import init_default_scope
    init_default_scope('tbps')
    torch.manual_seed(1)
    return MODELS.build(tiny_clip_config(img_size).model).eval()


def text_batch():
    """CLIP-style rows: start, words, end (the largest id), zero padding."""
    g = torch.Generator().manual_seed(0)
    eot = TEXT['vocab'] - 1
    rows = []
    for length in (5, 9, 3):
        words = torch.randint(1, eot - 1, (length, ), generator=g).tolist()
        rows.append([eot - 1] + words + [eot])
    ids = torch.zeros(len(rows), 12, dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, :len(r)] = torch.tensor(r)
    return ids, (ids > 0).long()


def assert_matches_open_clip(model, reference, atol=1e-4):
    images = torch.randn(2, 3, 224, 224, generator=torch.Generator()
                         .manual_seed(1))
    ids, mask = text_batch()
    with torch.no_grad():
        image_feat = model.extract_image_feat(images)
        text_feat = model.extract_text_feat(
            dict(input_ids=ids, attention_mask=mask))
        expected_image = reference.encode_image(images)
        # open_clip needs the full context; padding after the end token
        # does not change a causal model's end-token feature.
        expected_text = reference.encode_text(
            torch.nn.functional.pad(ids, (0, TEXT['context'] - ids.shape[1])))
        reference.visual.output_tokens = True
        _, expected_tokens = reference.visual(images)
        reference.visual.output_tokens = False
    assert torch.allclose(image_feat['global'], expected_image, atol=atol)
    assert torch.allclose(text_feat['global'], expected_text, atol=atol)
    # Tokens: ln_post on every token; projecting them (IRRA) keeps [CLS]
    # equal to the image feature.
    assert torch.allclose(image_feat['tokens'][:, 1:], expected_tokens,
                          atol=atol)
    with torch.no_grad():
        projected = model.image_proj(image_feat['tokens'])
    assert torch.allclose(projected[:, 0], expected_image, atol=atol)
    assert expected_image.abs().mean() > 0.05  # not a trivial match


def _load(model, sd, strict_extra=LOSS_KEYS):
    result = model.load_state_dict(dict(sd), strict=False)
    assert set(result.missing_keys) == strict_extra
    assert result.unexpected_keys == []


# -- conversion ---------------------------------------------------------------
def test_features_match_open_clip(reference):
    sd = reference.state_dict()
    new, report = convert_clip_state_dict(sd)
    model = build()
    before = model.extract_image_feat(torch.zeros(1, 3, 224, 224))['global']
    _load(model, new)
    assert_matches_open_clip(model, reference)
    assert not torch.allclose(before, model.extract_image_feat(
        torch.zeros(1, 3, 224, 224))['global'])
    # Projections are transposed into the necks, with zero biases.
    assert torch.equal(new['image_proj.proj.weight'], sd['visual.proj'].t())
    assert torch.equal(new['text_proj.proj.weight'],
                       sd['text_projection'].t())
    assert not new['text_proj.proj.bias'].any()
    assert torch.equal(new['image_encoder.transformer.resblocks.1.mlp.c_fc'
                           '.weight'],
                       sd['visual.transformer.resblocks.1.mlp.c_fc.weight'])
    assert torch.equal(new['text_encoder.ln_final.bias'],
                       sd['ln_final.bias'])
    assert report['unmapped'] == []
    assert (report['vision_width'], report['vision_layers'],
            report['patch_size'], report['src_grid'], report['dst_grid'],
            report['text_width'], report['text_layers'],
            report['context_length'], report['vocab_size'],
            report['embed_dim']) == (128, 2, 32, (7, 7), (7, 7), 128, 2, 77,
                                     1000, 64)
    assert report['temperature'] == pytest.approx(float(torch.exp(
        torch.tensor(-4.0))))
    assert 'logit_scale' in sum(report['dropped'].values(), [])
    # Same grid requested explicitly: nothing changes.
    same, _ = convert_clip_state_dict(sd, img_size=(224, 224))
    assert torch.equal(same['image_encoder.positional_embedding'],
                       sd['visual.positional_embedding'])


def test_tall_target_resizes_position_grid(reference):
    sd = reference.state_dict()
    new, report = convert_clip_state_dict(sd, img_size=(384, 128),
                                          proj_bias=False)
    assert report['dst_grid'] == (12, 4)
    pos = new['image_encoder.positional_embedding']
    assert pos.shape == (1 + 12 * 4, VISION['width'])
    assert torch.equal(pos, resize_clip_pos_embed(
        sd['visual.positional_embedding'], (7, 7), (12, 4)))
    assert not {'image_proj.proj.bias', 'text_proj.proj.bias'} & set(new)
    model = build(img_size=(384, 128))
    _load(model, new, LOSS_KEYS | {'image_proj.proj.bias',
                                   'text_proj.proj.bias'})
    with torch.no_grad():
        glob, tokens = model.image_encoder(torch.randn(2, 3, 384, 128))
    assert tokens.shape == (2, 49, VISION['width'])


def test_wrapped_state_dict_and_errors(reference):
    sd = reference.state_dict()
    wrapped = {'epoch': 3, 'state_dict': {f'module.{k}': v
                                          for k, v in sd.items()}}
    new, _ = convert_clip_state_dict(wrapped)
    plain, _ = convert_clip_state_dict(sd)
    assert new.keys() == plain.keys()
    extra = dict(sd, **{'some_head.weight': torch.ones(2)})
    assert convert_clip_state_dict(extra)[1]['unmapped'] == [
        'some_head.weight']
    with pytest.raises(ValueError, match='ResNet'):
        convert_clip_state_dict(
            dict(sd, **{'visual.layer1.0.conv1.weight': torch.ones(1)}))
    with pytest.raises(ValueError, match='Not an OpenAI CLIP'):
        convert_clip_state_dict({'backbone.x': torch.ones(1)})


def test_sha256_from_url():
    url = ('https://openaipublic.azureedge.net/clip/models/5806e77cd80f8b5989'
           '0b7e101eabd078d9fb84e6937f9e85e4ecb61988df416f/ViT-B-16.pt')
    assert sha256_from_url(url) == url.split('/')[-2]
    assert TOOL.OPENAI_CLIP_URLS['ViT-B/16'] == url
    assert sha256_from_url('http://127.0.0.1/ViT-B-16.pt') is None


# -- TorchScript archives (OpenAI's release format) --------------------------
def save_archive(path, seed=0, half=False):
    """A scripted open_clip CLIP with the metadata scalars OpenAI's archives
    carry, saved with torch.jit.save."""
    model = open_clip_model(seed)
    for name, value in (('input_resolution', 224), ('context_length', 77),
                        ('vocab_size', TEXT['vocab'])):
        if name in vars(model):  # open_clip keeps two of them as ints
            delattr(model, name)
        model.register_buffer(name, torch.tensor(value))
    if half:
        model = model.half()
    torch.jit.save(torch.jit.script(model), str(path))
    return model


def test_torchscript_archive(tmp_path, reference):
    path = tmp_path / 'ViT-tiny.pt'
    save_archive(path, half=True)
    checkpoint, kind = load_openai_clip(str(path))
    assert kind == 'torchscript'
    assert checkpoint['visual.proj'].dtype == torch.float16
    new, report = convert_clip_state_dict(checkpoint)
    assert report['source_dtypes'] == ['float16']
    assert all(v.dtype == torch.float32 for v in new.values()
               if v.is_floating_point())
    assert torch.equal(new['image_encoder.conv1.weight'],
                       reference.state_dict()['visual.conv1.weight']
                       .half().float())
    dropped = sum(report['dropped'].values(), [])
    assert {'input_resolution', 'context_length', 'vocab_size',
            'attn_mask', 'logit_scale'} <= set(dropped)
    assert report['unmapped'] == []
    # A plain state dict file is not mistaken for an archive.
    torch.save(reference.state_dict(), str(tmp_path / 'plain.pt'))
    assert load_openai_clip(str(tmp_path / 'plain.pt'))[1] == 'state_dict'


# -- the tool ---------------------------------------------------------------


def _serve_archive(root, tmp_path, digest=None):
    """Put a TorchScript archive under OpenAI's URL layout
    ``clip/models/<sha256>/ViT-B-16.pt``; returns (path part, sha256)."""
    archive = tmp_path / 'archive.pt'
    save_archive(archive)
    data = archive.read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    folder = root / 'clip' / 'models' / (digest or sha)
    folder.mkdir(parents=True)
    (folder / 'ViT-B-16.pt').write_bytes(data)
    return f'clip/models/{digest or sha}/ViT-B-16.pt', sha


def test_cli_downloads_checks_hash_and_loads(http_root, tmp_path, reference):
    from mmengine.runner.checkpoint import load_checkpoint
    root, base = http_root
    rel, sha = _serve_archive(root, tmp_path)
    url = f'{base}/{rel}'
    dst = tmp_path / 'out' / 'clip_tbps.pth'
    assert TOOL.main([url, str(dst), '--img-size', '224',
                      '224']) == 0
    cached = next((tmp_path / 'tbps_home' / 'checkpoints').rglob(
        'ViT-B-16.pt'))
    assert cached.is_file()
    saved = torch.load(str(dst), weights_only=True)
    assert set(saved) == {'state_dict', 'meta'}
    meta = saved['meta']
    assert meta['source'] == url and meta['source_sha256'] == sha
    assert meta['source_format'] == 'torchscript'
    assert meta['patch_grid'] == (7, 7) and meta['img_size'] == (224, 224)
    assert not [p for p in os.listdir(dst.parent) if p.endswith('.tmp')]
    # mmengine's load_checkpoint (what load_from does) into the 224 model:
    # features equal open_clip's for the same weights.
    model = build()
    load_checkpoint(model, str(dst), map_location='cpu', strict=False)
    assert_matches_open_clip(model, reference)
    # ...and into a tall model: the square grid is resized on load.
    tall = build(img_size=(384, 128))
    load_checkpoint(tall, str(dst), map_location='cpu', strict=False)
    assert torch.equal(tall.image_encoder.positional_embedding,
                       resize_clip_pos_embed(
                           saved['state_dict']
                           ['image_encoder.positional_embedding'],
                           (7, 7), (12, 4)))

    # Second run: served from the cache (default target 384x128).
    os.remove(root / rel)
    dst2 = tmp_path / 'out' / 'tall.pth'
    assert TOOL.main([url, str(dst2), '--no-proj-bias']) == 0
    saved2 = torch.load(str(dst2), weights_only=True)
    assert saved2['meta']['patch_grid'] == (12, 4)
    assert saved2['state_dict']['image_encoder.positional_embedding'].shape \
        == (49, VISION['width'])
    assert 'image_proj.proj.bias' not in saved2['state_dict']

    # A corrupted cache entry is detected and downloaded again.
    cached.write_bytes(b'corrupt')
    (root / rel).parent.mkdir(parents=True, exist_ok=True)
    (root / rel).write_bytes((tmp_path / 'archive.pt').read_bytes())
    with pytest.warns(UserWarning, match='does not match sha256'):
        assert TOOL.main([url, str(dst2)]) == 0
    assert hashlib.sha256(cached.read_bytes()).hexdigest() == sha


def test_cli_rejects_wrong_hash(http_root, tmp_path):
    root, base = http_root
    wrong = '0' * 64
    rel, _ = _serve_archive(root, tmp_path, digest=wrong)
    dst = tmp_path / 'out.pth'
    with pytest.raises(RuntimeError, match='does not match the expected'):
        TOOL.main([f'{base}/{rel}', str(dst)])
    assert not dst.exists()
    cache = tmp_path / 'tbps_home' / 'checkpoints'
    assert not cache.exists() or not [p for p in cache.rglob('*')
                                      if p.is_file()]


def _config_file(tmp_path, img_size, name):
    path = tmp_path / name
    tiny_clip_config(img_size).dump(str(path))
    return str(path)


def test_cli_config_check_and_atomic_write(tmp_path, capsys, monkeypatch,
                                           reference):
    src = tmp_path / 'clip.pt'
    torch.save(reference.state_dict(), str(src))
    dst = tmp_path / 'ok.pth'
    report = TOOL.convert(str(src), str(dst),
                          config=_config_file(tmp_path, (384, 128), 'a.py'))
    # The config's image size is the default target.
    assert report['dst_grid'] == (12, 4)
    comparison = report['comparison']
    assert set(comparison['missing']) == LOSS_KEYS
    assert comparison['unexpected'] == [] and comparison['errors'] == []
    out = capsys.readouterr().out
    assert '7x7 -> 12x4' in out and 'missing against the config model: 1' \
        in out

    # A config whose widths differ: reported, nothing written.
    cfg = tiny_clip_config()
    cfg.model.text_encoder.width = 64
    cfg.model.text_encoder.heads = 1
    cfg.dump(str(tmp_path / 'bad.py'))
    bad = tmp_path / 'bad.pth'
    with pytest.raises(ValueError, match='do not fit'):
        TOOL.convert(str(src), str(bad), config=str(tmp_path / 'bad.py'))
    assert not bad.exists()

    # Writing fails half-way: the old output stays intact, no temp file.
    def broken_save(obj, f):
        f.write(b'partial')
        raise OSError('disk full')

    before = dst.read_bytes()
    monkeypatch.setattr(TOOL.torch, 'save', broken_save)
    with pytest.raises(OSError, match='disk full'):
        TOOL.main([str(src), str(dst)])
    assert dst.read_bytes() == before
    assert not [p for p in os.listdir(tmp_path) if p.endswith('.tmp')]
    with pytest.raises(FileNotFoundError, match='ViT-B/16'):
        TOOL.main([str(tmp_path / 'missing.pt'), str(dst)])
