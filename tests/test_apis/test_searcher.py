"""TextPersonSearcher on a tiny SynthPEDES gallery: ranking equals the
model's own similarity, the index is reused and updated, bad photos and a
corrupt index are handled, fusion models re-rank by ITM."""
import os
import os.path as osp
import shutil
import time

import pytest
import torch
from mmengine.config import Config

from tbps.apis import TextPersonSearcher, init_model
from tbps.apis.searcher import find_images

QUERY = 'a woman in a red coat carrying a black backpack'


def tiny(config, rerank_k=None):
    cfg = Config.fromfile(config)
    if 'arch' in cfg.model.image_encoder:
        cfg.model.image_encoder.arch.num_layers = 1
        cfg.model.text_encoder.num_layers = 1
    else:
        cfg.model.image_encoder.layers = 1
        cfg.model.text_encoder.layers = 1
    if rerank_k is not None:
        cfg.model.rerank.k = rerank_k
    torch.manual_seed(0)
    return init_model(cfg)


@pytest.fixture()
def gallery(tiny_synth_root, tmp_path):
    folder = tmp_path / 'photos'
    images = find_images(osp.join(tiny_synth_root, 'imgs', 'test'))[:12]
    for i, src in enumerate(images):
        sub = folder / ('a' if i % 2 else 'b')
        sub.mkdir(parents=True, exist_ok=True)
        shutil.copy(src, sub / f'{i:02d}.jpg')
    return str(folder)


def brute_force(model, searcher, text):
    with torch.no_grad():
        query = model.encode_text([text]).float()
    sims = (query @ searcher.features.t())[0]
    order = torch.argsort(sims, descending=True, stable=True)
    return [(searcher.paths[i], float(sims[i])) for i in order.tolist()]


def test_ranks_like_the_model_and_reuses_its_index(gallery, tmp_path):
    model = tiny('configs/clip/clip_synth.py')
    index = str(tmp_path / 'gallery_index.pth')
    searcher = TextPersonSearcher(model, gallery, index_file=index,
                                  batch_size=5)
    assert len(searcher.paths) == 12 and searcher.num_encoded == 12
    results = searcher.search(QUERY, topk=5)
    expected = brute_force(model, searcher, QUERY)[:5]
    assert [p for p, _ in results] == [p for p, _ in expected]
    assert [s for _, s in results] == pytest.approx(
        [s for _, s in expected], abs=1e-5)
    # the features are the model's own, through its test pipeline
    assert torch.allclose(searcher.features.norm(dim=1), torch.ones(12))
    two = searcher.search([QUERY, 'a man in black'], topk=3)
    assert len(two) == 2 and [len(r) for r in two] == [3, 3]
    assert [p for p, _ in two[0]] == [p for p, _ in results[:3]]
    assert [s for _, s in two[0]] == pytest.approx(
        [s for _, s in results[:3]], abs=1e-5)

    # a second searcher reuses every feature; a changed photo is re-encoded
    again = TextPersonSearcher(model, gallery, index_file=index)
    assert again.num_encoded == 0
    assert torch.equal(again.features, searcher.features)
    changed = find_images(gallery)[3]
    time.sleep(0.01)
    os.utime(changed, None)  # new modification time
    third = TextPersonSearcher(model, gallery, index_file=index)
    assert third.num_encoded == 1
    # the saved index itself is a gallery
    from_index = TextPersonSearcher(model, index)
    assert from_index.paths == searcher.paths and \
        from_index.num_encoded == 0
    # another model's weights never reuse the index
    other = tiny('configs/clip/clip_synth.py')
    with torch.no_grad():
        other.image_proj.proj.weight.mul_(2)
    assert TextPersonSearcher(other, gallery,
                              index_file=index).num_encoded == 12


def test_bad_photos_are_skipped_and_a_corrupt_index_rebuilt(gallery,
                                                            tmp_path):
    model = tiny('configs/clip/clip_synth.py')
    broken = osp.join(gallery, 'a', 'broken.jpg')
    with open(broken, 'wb') as f:
        f.write(b'not an image')
    index = tmp_path / 'index.pth'
    with pytest.warns(UserWarning, match='broken.jpg'):
        searcher = TextPersonSearcher(model, gallery, index_file=str(index))
    assert broken not in searcher.paths and len(searcher.paths) == 12
    assert searcher.skipped[0][0] == broken
    index.write_bytes(b'garbage')
    with pytest.warns(UserWarning, match='rebuilding'):
        rebuilt = TextPersonSearcher(model, gallery, index_file=str(index))
    assert rebuilt.num_encoded == 12
    assert torch.allclose(rebuilt.features, searcher.features, atol=1e-6)


def test_faiss_gives_the_same_ranking(gallery):
    pytest.importorskip('faiss')
    model = tiny('configs/clip/clip_synth.py')
    plain = TextPersonSearcher(model, gallery)
    flat = TextPersonSearcher(model, gallery, faiss='flat')
    assert [p for p, _ in plain.search(QUERY, 6)] == \
        [p for p, _ in flat.search(QUERY, 6)]


def test_fusion_model_reranks_its_top_k(gallery):
    model = tiny('configs/albef/albef_synth.py', rerank_k=4)
    with torch.no_grad():  # an ITM head that disagrees with the cosine
        model.heads.itm.fc.weight.normal_(0, 3.0)
    searcher = TextPersonSearcher(model, gallery)
    results = searcher.search(QUERY, topk=3)
    coarse = brute_force(model, searcher, QUERY)
    candidates = [p for p, _ in coarse[:4]]
    assert all(p in candidates for p, _ in results)
    # scores are the ITM logits of model.rerank on those candidates
    idx = [searcher.paths.index(p) for p in candidates]
    sims = torch.tensor([[s for _, s in coarse[:4]]])
    tokens = searcher._image_tokens(idx)
    expected = model.rerank(sims, [QUERY], tokens, k=4)[0]
    order = torch.argsort(expected, descending=True, stable=True)[:3]
    assert [p for p, _ in results] == [candidates[i] for i in order]
    assert [s for _, s in results] == pytest.approx(
        expected[order].tolist(), abs=1e-4)
