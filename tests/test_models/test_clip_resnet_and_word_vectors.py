"""CM-MoCo's encoders: BiGRUTextEncoder (learned word vectors; frozen CLIP
word vectors computed from an OpenAI-format CLIP file and cached) and
CLIPResNetEncoder (OpenAI's ResNet CLIP image tower) against open_clip's
own CLIP with a ResNet vision tower: layers (1, 1, 1, 1), width 16 (a
512-channel map, 8 attention-pool heads), text width 64 / 1 layer / the
real 49408-token BPE vocabulary, joint width 32, every tensor (BatchNorm
statistics included) randomised."""
import hashlib
import os
import shutil

import pytest
import torch

from tbps.models.encoders.bigru_text import BiGRUTextEncoder
from tbps.models.encoders.clip_resnet import CLIPResNetEncoder

from tbps.testing import CLIP_RN, CLIP_RN_EMBED as EMBED, \
    open_clip_resnet_model

RN = CLIP_RN
VOCAB = ['[PAD]', '[UNK]', 'red', 'coat', 'backpack']


@pytest.fixture(scope='module')
def reference():
    return open_clip_resnet_model()


@pytest.fixture(scope='module')
def saved_clip(reference, tmp_path_factory):
    path = tmp_path_factory.mktemp('clip_src') / 'rn_clip.pt'
    torch.save(reference.state_dict(), path)
    return str(path)


@pytest.fixture
def clip_file(saved_clip, tmp_path):
    """The CLIP state dict in a directory of its own (caches land beside
    it)."""
    path = tmp_path / 'clip' / 'rn_clip.pt'
    path.parent.mkdir()
    shutil.copy(saved_clip, path)
    return str(path)


def caches(directory):
    return sorted(f for f in os.listdir(directory)
                  if f.startswith('clip_words_'))


def clip_encoder(path, vocab=VOCAB, **kwargs):
    kwargs.setdefault('embed_dim', EMBED)
    return BiGRUTextEncoder(vocab_size=len(vocab), hidden_dim=6,
                            word_vectors='clip', clip_checkpoint=path,
                            vocab=vocab, **kwargs)


# -- BiGRUTextEncoder, learned word vectors ------------------------------
def test_bigru_learned_padding_independence():
    torch.manual_seed(0)
    enc = BiGRUTextEncoder(vocab_size=20, embed_dim=8, hidden_dim=6,
                           word_vectors='learned').eval()
    assert enc.embed_dim == 12
    short = torch.tensor([[4, 9, 2]])
    alone_global, alone_tokens = enc(short, torch.ones_like(short))
    assert alone_global.shape == (1, 12) and alone_tokens.shape == (1, 3, 12)
    # batched with a longer caption; padded positions hold garbage ids
    ids = torch.tensor([[4, 9, 2, 17, 17, 5, 3],
                        [1, 2, 3, 4, 5, 6, 7]])
    mask = torch.tensor([[1, 1, 1, 0, 0, 0, 0], [1] * 7])
    g, tokens = enc(ids, mask)
    assert g.shape == (2, 12) and tokens.shape == (2, 7, 12)
    assert torch.allclose(g[0], alone_global[0], atol=1e-6)
    assert torch.allclose(tokens[0, :3], alone_tokens[0], atol=1e-6)
    assert torch.equal(tokens[0, 3:], torch.zeros(4, 12))
    # the global feature is a max over the real tokens only
    assert torch.equal(g[1], tokens[1].amax(0))
    assert torch.equal(g[0], tokens[0, :3].amax(0))
    # and both directions read the caption: the backward half of the first
    # token depends on the last word, the forward half does not
    changed = short.clone()
    changed[0, 2] = 11
    _, t2 = enc(changed, torch.ones_like(changed))
    assert torch.equal(t2[0, 0, :6], alone_tokens[0, 0, :6])
    assert not torch.allclose(t2[0, 0, 6:], alone_tokens[0, 0, 6:])


def test_bigru_learned_word_vectors_train():
    enc = BiGRUTextEncoder(vocab_size=20, embed_dim=8, hidden_dim=6)
    ids = torch.tensor([[4, 9, 2]])
    enc(ids)[0].sum().backward()
    assert enc.embedding.weight.grad[[4, 9, 2]].abs().sum() > 0
    with pytest.raises(ValueError, match='word_vectors'):
        BiGRUTextEncoder(vocab_size=20, word_vectors='glove')


# -- BiGRUTextEncoder, CLIP word vectors ---------------------------------
def test_clip_word_vectors_are_clip_text_features(reference, clip_file):
    from open_clip.tokenizer import tokenize
    enc = clip_encoder(clip_file)
    assert [n for n, _ in enc.named_parameters()] == [
        n for n, _ in enc.gru.named_parameters(prefix='gru')]
    ids = torch.tensor([[2, 3, 4]])
    with pytest.raises(RuntimeError, match='init_weights'):
        enc(ids)
    enc.init_weights()
    with torch.no_grad():
        for i, word in enumerate(VOCAB):
            expected = reference.encode_text(tokenize([word]))[0]
            assert torch.allclose(enc.word_table[i], expected, atol=1e-5), \
                word
    # distinct words, distinct vectors
    assert not torch.allclose(enc.word_table[2], enc.word_table[3])
    global_feat, tokens = enc(ids)
    assert global_feat.shape == (1, 12) and tokens.shape == (1, 3, 12)


def test_clip_word_vectors_cached_beside_checkpoint(clip_file, monkeypatch,
                                                    tmp_path):
    from tbps.models.utils import clip_weights
    directory = os.path.dirname(clip_file)
    first = clip_encoder(clip_file)
    first.init_weights()
    with open(clip_file, 'rb') as f:
        file_hash = hashlib.sha256(f.read()).hexdigest()[:12]
    vocab_hash = hashlib.sha256('\n'.join(VOCAB).encode()).hexdigest()[:12]
    assert caches(directory) == [f'clip_words_{file_hash}_{vocab_hash}.pth']
    cached = torch.load(os.path.join(directory, caches(directory)[0]),
                        weights_only=True)
    assert torch.equal(cached, first.word_table)

    # a second encoder reads the cache: computing would raise
    def refuse(*args, **kwargs):
        raise AssertionError('recomputed despite the cache')

    with monkeypatch.context() as m:
        m.setattr(clip_weights, 'compute_clip_word_vectors', refuse)
        second = clip_encoder(clip_file)
        second.init_weights()
        assert torch.equal(second.word_table, first.word_table)
        # another vocabulary is another cache: computed, so it raises here
        with pytest.raises(AssertionError, match='recomputed'):
            clip_encoder(clip_file, VOCAB + ['hat']).init_weights()

    other = clip_encoder(clip_file, VOCAB[:2] + ['hat', 'red'])
    other.init_weights()
    assert len(caches(directory)) == 2
    assert torch.equal(other.word_table[3], first.word_table[2])  # 'red'

    # cache_dir: the cache goes there, not beside the checkpoint
    cache_dir = tmp_path / 'word_cache'
    third = clip_encoder(clip_file, VOCAB + ['hat'],
                         cache_dir=str(cache_dir))
    third.init_weights()
    assert len(caches(cache_dir)) == 1 and len(caches(directory)) == 2


def test_clip_word_vectors_errors(clip_file, tmp_path):
    with pytest.raises(FileNotFoundError, match='clip_vit-b32_openai'):
        clip_encoder(str(tmp_path / 'absent.pt')).init_weights()
    with pytest.raises(ValueError, match='embed_dim'):
        clip_encoder(clip_file, embed_dim=16).init_weights()
    with pytest.raises(ValueError, match='clip_checkpoint'):
        BiGRUTextEncoder(vocab_size=5, word_vectors='clip', vocab=VOCAB)
    with pytest.raises(ValueError, match='vocab'):
        BiGRUTextEncoder(vocab_size=6, word_vectors='clip',
                         clip_checkpoint=clip_file, vocab=VOCAB)


def test_clip_word_table_travels_in_state_dict(clip_file, tmp_path):
    torch.manual_seed(0)
    enc = clip_encoder(clip_file)
    enc.init_weights()
    state = enc.state_dict()
    assert 'word_table' in state and bool(state['word_table_ready'])
    # a model rebuilt for testing: no CLIP file, no init_weights
    fresh = clip_encoder(str(tmp_path / 'gone.pt'))
    fresh.load_state_dict(state)
    ids = torch.tensor([[2, 4, 3, 1], [3, 2, 0, 0]])
    mask = (ids > 0).long()
    with torch.no_grad():
        expected = enc(ids, mask)
        got = fresh(ids, mask)
    assert torch.equal(got[0], expected[0])
    assert torch.equal(fresh.word_table, enc.word_table)


# -- CLIPResNetEncoder -----------------------------------------------------
def test_clip_resnet_matches_open_clip(reference, saved_clip):
    torch.manual_seed(5)
    enc = CLIPResNetEncoder(**RN, img_size=(224, 224), last_stride=2,
                            clip_checkpoint=saved_clip)
    enc.init_weights()
    enc.eval()
    images = torch.randn(2, 3, 224, 224,
                         generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        global_feat, tokens = enc(images)
        expected = reference.encode_image(images)
        trunk = reference.visual
        feature_map = trunk.layer4(trunk.layer3(trunk.layer2(trunk.layer1(
            trunk.stem(images)))))
    assert global_feat.shape == (2, EMBED)
    assert torch.allclose(global_feat, expected, atol=1e-5)
    assert expected.abs().mean() > 1e-3
    assert tokens.shape == (2, 49, 32 * RN['width'])
    assert torch.allclose(tokens, feature_map.flatten(2).transpose(1, 2),
                          atol=1e-5)


def test_clip_resnet_last_stride_one_person_size(reference, saved_clip):
    from tbps.models.utils.pos_embed import resize_clip_pos_embed
    enc = CLIPResNetEncoder(**RN, img_size=(384, 128), last_stride=1,
                            clip_checkpoint=saved_clip)
    enc.init_weights()
    enc.eval()
    pos = enc.attnpool.positional_embedding
    source = reference.visual.attnpool.positional_embedding
    assert pos.shape == (24 * 8 + 1, 32 * RN['width'])
    assert torch.equal(pos[0], source[0])  # the mean token's position
    assert torch.allclose(pos, resize_clip_pos_embed(source, (7, 7), (24, 8)),
                          atol=1e-6)
    # the loaded convolutions are CLIP's
    assert torch.equal(enc.layer4[0].conv2.weight,
                       reference.visual.layer4[0].conv2.weight)
    images = torch.randn(1, 3, 384, 128)
    with torch.no_grad():
        global_feat, tokens = enc(images)
        # stages 1-3 are CLIP's, stride 16 after them
        trunk = reference.visual
        map3 = trunk.layer3(trunk.layer2(trunk.layer1(trunk.stem(images))))
        assert map3.shape[-2:] == (24, 8)
        # the last stage keeps the grid, with CLIP's weights
        assert torch.allclose(
            tokens, enc.layer4(map3).flatten(2).transpose(1, 2), atol=1e-5)
    assert global_feat.shape == (1, EMBED)
    assert tokens.shape == (1, 24 * 8, 32 * RN['width'])
    with pytest.raises(ValueError, match='feature map'):
        enc(torch.randn(1, 3, 224, 224))


def test_clip_resnet_rejects_vit_clip(tmp_path):
    from tbps.testing import open_clip_model
    path = tmp_path / 'vit_clip.pt'
    torch.save(open_clip_model().state_dict(), path)
    enc = CLIPResNetEncoder(**RN, img_size=(224, 224), last_stride=2,
                            clip_checkpoint=str(path))
    with pytest.raises(ValueError, match='clip_rn50_openai'):
        enc.init_weights()
