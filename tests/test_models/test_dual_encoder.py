import pytest
import torch
from mmengine.config import Config

from tbps.registry import MODELS
from tbps.structures import TBPSDataSample


def tiny_clip_cfg():
    cfg = Config.fromfile('configs/clip/clip_synth.py')
    cfg.model.data_preprocessor.tokenizer = dict(type='CLIPTokenizer')
    cfg.model.image_encoder.layers = 1
    cfg.model.text_encoder.layers = 1
    return cfg.model


def pair_batch(n=4):
    imgs = [torch.randint(0, 255, (3, 64, 32), dtype=torch.uint8)
            for _ in range(n)]
    samples = [TBPSDataSample(metainfo=dict(
        caption=f'a person in a {c} shirt', pid=i // 2, modality='pair'))
        for i, c in enumerate(['red', 'blue', 'green', 'black'][:n])]
    return dict(inputs=imgs, data_samples=samples)


def test_loss_backward_reaches_both_encoders():
    model = MODELS.build(tiny_clip_cfg())
    data = model.data_preprocessor(pair_batch(), True)
    losses = model(**data, mode='loss')
    assert set(losses) == {'loss_itc'}
    losses['loss_itc'].backward()
    assert model.image_encoder.class_embedding.grad.abs().sum() > 0
    assert model.text_encoder.token_embedding.weight.grad.abs().sum() > 0
    assert model.losses['itc'].log_inv_temperature.grad is not None


def test_predict_mixed_batch_and_encode_api():
    model = MODELS.build(tiny_clip_cfg())
    model.eval()
    imgs = pair_batch(2)['inputs'] + [None, None]
    samples = [TBPSDataSample(metainfo=dict(pid=0, modality='image')),
               TBPSDataSample(metainfo=dict(pid=1, modality='image')),
               TBPSDataSample(metainfo=dict(pid=0, modality='text',
                                            caption='a red shirt')),
               TBPSDataSample(metainfo=dict(pid=1, modality='text',
                                            caption='blue trousers'))]
    data = model.data_preprocessor(dict(inputs=imgs, data_samples=samples))
    out = model(**data, mode='predict')
    assert 'image_feat' in out[0] and 'text_feat' not in out[0]
    assert 'text_feat' in out[3] and 'image_feat' not in out[3]
    # encode_image / encode_text give the same unit-norm embeddings.
    img_emb = model.encode_image(data['inputs']['images'])
    txt_emb = model.encode_text(['a red shirt', 'blue trousers'])
    assert img_emb.shape == (2, 128) and txt_emb.shape == (2, 128)
    assert torch.allclose(img_emb[0], out[0].image_feat, atol=1e-5)
    assert torch.allclose(txt_emb[1], out[3].text_feat, atol=1e-5)
    assert torch.allclose(txt_emb.norm(dim=-1), torch.ones(2), atol=1e-5)


def test_training_rejects_unpaired_batch():
    model = MODELS.build(tiny_clip_cfg())
    samples = [TBPSDataSample(metainfo=dict(pid=0, modality='text',
                                            caption='a red shirt'))]
    data = model.data_preprocessor(dict(inputs=[None], data_samples=samples))
    with pytest.raises(ValueError, match='image-caption pairs'):
        model(**data, mode='loss')


def test_vocab_size_none_follows_tokenizer():
    model = MODELS.build(tiny_clip_cfg())
    assert (model.text_encoder.token_embedding.num_embeddings ==
            model.tokenizer.vocab_size == 49408)
