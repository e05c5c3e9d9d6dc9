import torch

from tbps.registry import MODELS
from tbps.structures import TBPSDataSample


def build(**kw):
    return MODELS.build(dict(type='TBPSDataPreprocessor',
                             tokenizer=dict(type='CLIPTokenizer'), **kw))


def test_normalises_bgr_to_rgb_and_indexes_modalities():
    pre = build(mean=(10., 20., 30.), std=(2., 4., 5.))
    img = torch.zeros(3, 2, 2, dtype=torch.uint8)
    img[0], img[1], img[2] = 50, 60, 70  # B, G, R as loaded by OpenCV
    samples = [TBPSDataSample(metainfo=dict(modality='image', pid=0)),
               TBPSDataSample(metainfo=dict(modality='text', pid=0,
                                            caption='a red shirt')),
               TBPSDataSample(metainfo=dict(modality='pair', pid=1,
                                            caption='blue')),
               ]
    out = pre(dict(inputs=[img, None, img], data_samples=samples))
    x = out['inputs']
    assert x['image_index'].tolist() == [0, 2]
    assert x['text_index'].tolist() == [1, 2]
    # R channel (70) first after flipping, then normalised per channel.
    assert torch.allclose(x['images'][0, :, 0, 0],
                          torch.tensor([(70 - 10) / 2, (60 - 20) / 4,
                                        (50 - 30) / 5]))
    assert x['text']['input_ids'].shape[0] == 2


def test_text_only_batch_has_no_images():
    pre = build()
    samples = [TBPSDataSample(metainfo=dict(modality='text', pid=0,
                                            caption='a hat'))]
    out = pre(dict(inputs=[None], data_samples=samples))
    assert out['inputs']['images'] is None
    assert out['inputs']['text']['input_ids'].shape[0] == 1
