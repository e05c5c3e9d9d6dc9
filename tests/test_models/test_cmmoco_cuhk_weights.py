"""cmmoco_cuhk.py's weights straight from OpenAI-format CLIP releases
served over HTTP (127.0.0.1): the ResNet image tower and the word vectors
are downloaded once (sha256 from the URL checked), loaded, and a training
step runs (encoders shrunk to the test CLIP's sizes)."""
import hashlib
import os

import open_clip
import torch
from mmengine.config import Config

from tbps.registry import MODELS
from tbps.structures import TBPSDataSample
from tbps.testing import CLIP_RN, CLIP_RN_EMBED, open_clip_resnet_model


def serve_archive(root, model, name):
    """A TorchScript archive (OpenAI's release format) at OpenAI's URL
    layout ``clip/models/<sha256>/<name>``."""
    path = root / 'archive.pt'
    torch.jit.save(torch.jit.script(model), str(path))
    data = path.read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    folder = root / 'clip' / 'models' / sha
    folder.mkdir(parents=True)
    (folder / name).write_bytes(data)
    path.unlink()
    return f'clip/models/{sha}/{name}'


def test_cuhk_config_loads_openai_files_by_url(http_root, tmp_path):
    root, base = http_root
    reference = open_clip_resnet_model()
    url = f'{base}/{serve_archive(root, reference, "RN50.pt")}'
    vocab = tmp_path / 'word_vocab.txt'
    vocab.write_text('<pad>\n<unk>\na\nman\nred\nshirt\n')
    cfg = Config.fromfile('configs/cmmoco/cmmoco_cuhk.py')
    cfg.model.data_preprocessor.tokenizer.vocab_file = str(vocab)
    cfg.model.image_encoder.update(CLIP_RN, clip_checkpoint=url)
    cfg.model.text_encoder.update(clip_checkpoint=url, embed_dim=CLIP_RN_EMBED,
                                  hidden_dim=16)
    cfg.model.losses.id.num_classes = 4
    cfg.model.moco.queue_size = 8
    model = MODELS.build(cfg.model)
    model.init_weights()

    visual = reference.visual.state_dict()
    for key in ('conv1.weight', 'layer4.0.conv3.weight', 'attnpool.c_proj.bias'):
        assert torch.equal(model.image_encoder.state_dict()[key], visual[key])
    downloads = tmp_path / 'tbps_home' / 'checkpoints'
    cached = [f for _, _, files in os.walk(downloads) for f in files]
    assert cached.count('RN50.pt') == 1
    assert len([f for f in cached if f.startswith('clip_words_')]) == 1
    with torch.no_grad():
        expected = reference.encode_text(open_clip.tokenize(['shirt']))
    torch.testing.assert_close(model.text_encoder.word_table[5], expected[0],
                               rtol=0, atol=1e-5)

    images = torch.randn(4, 3, 384, 128)
    text = model.data_preprocessor.tokenize(['a man', 'a red shirt', 'a man',
                                             'red shirt'])
    samples = [TBPSDataSample(pid=p) for p in (0, 0, 1, 1)]
    model.train()
    losses = model.loss(dict(images=images, image_index=torch.arange(4),
                             text=text, text_index=torch.arange(4)), samples)
    assert set(losses) == {'loss_moco', 'loss_align', 'loss_id'}
    assert all(torch.isfinite(v) for v in losses.values())
