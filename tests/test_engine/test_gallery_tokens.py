"""GalleryImageTokens: the gallery's image tokens, encoded a slice at a
time from the evaluation dataset, equal those of the evaluation pass."""
import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate

from tbps.engine import GalleryImageTokens
from tbps.registry import DATASETS, MODELS


@pytest.fixture(scope='module')
def model_and_dataset(tiny_synth_root):
    from mmengine.registry import init_default_scope
    init_default_scope('tbps')
    cfg = Config.fromfile('configs/albef/albef_synth.py')
    cfg.model.image_encoder.arch.num_layers = 1
    torch.manual_seed(0)
    model = MODELS.build(cfg.model).eval()
    dataset = DATASETS.build(dict(cfg.test_dataloader.dataset,
                                  data_root=tiny_synth_root))
    return model, dataset


def test_slices_match_one_full_pass(model_and_dataset):
    model, dataset = model_and_dataset
    gallery = [i for i in range(len(dataset))
               if dataset.get_data_info(i)['modality'] == 'image']
    data = model.data_preprocessor(
        pseudo_collate([dataset[i] for i in gallery]), False)
    with torch.no_grad():
        full = model.extract_image_feat(data['inputs']['images'])['tokens']
    lazy = GalleryImageTokens(model, dataset, gallery)
    assert len(lazy) == len(gallery)
    chunks = torch.cat([lazy[a:a + 3] for a in range(0, len(lazy), 3)])
    torch.testing.assert_close(chunks, full, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(lazy[1], full[1], rtol=1e-5, atol=1e-5)
    assert not chunks.requires_grad


def test_caption_indices_are_refused(model_and_dataset):
    model, dataset = model_and_dataset
    caption = next(i for i in range(len(dataset))
                   if dataset.get_data_info(i)['modality'] == 'text')
    with pytest.raises(ValueError, match='not all gallery images'):
        GalleryImageTokens(model, dataset, [caption])[0:1]
