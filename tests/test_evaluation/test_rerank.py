"""Top-k ITM re-ranking (FusionRetriever.rerank) against a naive loop."""
import pytest
import torch
from mmengine.config import Config

from tbps.evaluation.functional.rerank import combine_scores, topk_candidates
from tbps.registry import MODELS
from tbps.structures import TBPSDataSample

CAPTIONS = [
    'a man in a red shirt.',
    'the woman has long black hair and wears a white dress with a bag.',
    'a person with a hat.',
    'the man wears blue jeans, a gray jacket and black shoes.',
    'she carries a backpack.',
    'a young man with short hair, a purple shirt, long yellow pants and a '
    'red bag over his shoulder.',
    'a woman.',
]
NUM_IMAGES, NUM_TOKENS = 11, 9


def build(fusion_layers=3, **rerank):
    cfg = Config.fromfile('configs/albef/albef_synth.py').model
    bert = dict(hidden_size=32, num_attention_heads=4, intermediate_size=64,
                max_position_embeddings=64)
    # large random weights: the image changes the fused [CLS] a lot
    fusion = dict(bert, initializer_range=0.2)
    cfg.image_encoder.arch = dict(embed_dims=24, num_layers=1, num_heads=2,
                                  feedforward_channels=48)
    cfg.text_encoder.config = bert
    cfg.text_encoder.num_layers = 1
    cfg.fusion_encoder.config = fusion
    cfg.fusion_encoder.num_layers = fusion_layers
    cfg.embed_dim = 16
    cfg.heads.itc.queue_size = 8
    cfg.rerank = dict(dict(k=5, batch_size=4, image_chunk=3), **rerank)
    torch.manual_seed(0)
    model = MODELS.build(cfg).eval()
    with torch.no_grad():  # spread the ITM logits: rankings then differ
        model.heads.itm.fc.weight.normal_(0, 1.0)
    return model


def close(got, expected):
    """Equal up to float32 rounding (logits reach ~10 here)."""
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


def inputs(model, seed=0):
    g = torch.Generator().manual_seed(seed)
    text = model.data_preprocessor.tokenize(CAPTIONS)
    width = model.fusion_encoder.encoder_width
    image_tokens = torch.randn(NUM_IMAGES, NUM_TOKENS, width, generator=g)
    similarity = torch.randn(len(CAPTIONS), NUM_IMAGES, generator=g)
    return similarity, text, image_tokens


@torch.no_grad()
def naive_logits(model, text, image_tokens, candidates,
                 pair=lambda logits: logits[:, 1]):
    """ALBEF's loop: per query, its candidates in one fusion pass over the
    full image tokens (keys/values computed per pair), no padding."""
    out = torch.empty(candidates.shape)
    for i, idx in enumerate(candidates):
        n = int(text['attention_mask'][i].sum())
        ids = text['input_ids'][i:i + 1, :n]
        mask = text['attention_mask'][i:i + 1, :n]
        _, tokens = model.text_encoder(ids, mask)
        k = idx.numel()
        fused, _ = model.fusion_encoder(tokens.expand(k, -1, -1),
                                        mask.expand(k, -1), image_tokens[idx])
        out[i] = pair(model.heads.itm(fused[:, 0]))
    return out


def test_tokenised_captions_have_different_lengths():
    model = build()
    lengths = inputs(model)[1]['attention_mask'].sum(1)
    assert len(set(lengths.tolist())) >= 5  # padding is exercised


@pytest.mark.parametrize('fusion_layers', [1, 2, 3])
def test_batched_equals_naive_loop(fusion_layers):
    model = build(fusion_layers)
    similarity, text, image_tokens = inputs(model)
    got = model.rerank(similarity, text, image_tokens)
    _, cand = topk_candidates(similarity, 5)
    expected = torch.full(similarity.shape, -100.0).scatter_(
        1, cand, naive_logits(model, text, image_tokens, cand))
    close(got, expected)
    # the logits spread: a wrong pair would not pass by chance
    assert naive_logits(model, text, image_tokens, cand).std() > 0.1


def test_chunking_and_batch_size_do_not_change_scores():
    model = build()
    similarity, text, image_tokens = inputs(model)
    ref = model.rerank(similarity, text, image_tokens)
    for batch_size, chunk in [(1, 1), (3, 11), (64, 4), (7, 100)]:
        model.rerank_cfg.update(batch_size=batch_size, image_chunk=chunk)
        got = model.rerank(similarity, text, list(image_tokens))
        close(got, ref)


def test_k_larger_than_gallery_rescoring_everything():
    model = build()
    similarity, text, image_tokens = inputs(model)
    got = model.rerank(similarity, text, image_tokens, k=1000)
    everything = torch.arange(NUM_IMAGES).expand(len(CAPTIONS), -1)
    expected = naive_logits(model, text, image_tokens, everything)
    close(got, expected)
    assert not (got == -100.0).any()


def test_fill_and_order_follow_itm():
    model = build(fill=-7.5)
    similarity, text, image_tokens = inputs(model)
    got = model.rerank(similarity, text, image_tokens)
    _, cand = topk_candidates(similarity, 5)
    is_cand = torch.zeros(similarity.shape, dtype=torch.bool).scatter_(
        1, cand, True)
    assert (got[~is_cand] == -7.5).all()
    assert (got[is_cand] > -7.5).all()
    logits = naive_logits(model, text, image_tokens, cand)
    changed = 0
    for i in range(len(CAPTIONS)):
        top = torch.argsort(got[i], descending=True)[:5]
        by_itm = cand[i][torch.argsort(logits[i], descending=True)]
        assert top.tolist() == by_itm.tolist()
        changed += top.tolist() != cand[i].tolist()  # cosine order
    assert changed >= len(CAPTIONS) // 2


def test_itm_plus_sim_is_aptm_combination():
    model = build(score='itm+sim', sim_weight=0.5)
    similarity, text, image_tokens = inputs(model)
    got = model.rerank(similarity, text, image_tokens)
    _, cand = topk_candidates(similarity, 5)
    logits = naive_logits(model, text, image_tokens, cand)
    itm = logits.min(1, keepdim=True).values.expand(similarity.shape).clone()
    itm.scatter_(1, cand, logits)

    def minmax(x):
        return (x - x.min()) / (x.max() - x.min())

    expected = minmax(itm) + 0.5 * minmax(similarity)
    close(got, expected)
    # the default weight (APTM's 0.002) keeps candidates first and orders
    # the rest by similarity
    scores = combine_scores(similarity, cand, logits, score='itm+sim')
    for i in range(len(CAPTIONS)):
        order = torch.argsort(scores[i], descending=True)
        assert set(order[:5].tolist()) == set(cand[i].tolist())
        rest = order[5:]
        assert (similarity[i, rest].diff() <= 0).all()


def test_captions_as_strings_and_training_mode_restored():
    model = build()
    similarity, text, image_tokens = inputs(model)
    ref = model.rerank(similarity, text, image_tokens)
    model.train()  # dropout must be off inside rerank
    for _ in range(2):
        got = model.rerank(similarity, CAPTIONS, image_tokens)
        close(got, ref)
    assert model.training


def test_bad_rerank_config():
    with pytest.raises(ValueError, match='Unknown rerank keys'):
        build(topk=3)
    with pytest.raises(ValueError, match='score'):
        build(score='itm-prob')
    model = build()
    similarity, text, image_tokens = inputs(model)
    with pytest.raises(ValueError, match='must be \\[Q, G\\]'):
        model.rerank(similarity[:, :-1], text, image_tokens)


def test_predict_attaches_rerank_fields_only_when_enabled():
    for k in (5, 0):
        model = build(k=k)
        imgs = [torch.randint(0, 255, (3, 64, 32), dtype=torch.uint8)
                for _ in range(2)]
        samples = [TBPSDataSample(metainfo=dict(modality='image', pid=0))
                   for _ in range(2)]
        samples += [TBPSDataSample(metainfo=dict(modality='text', pid=0,
                                                 caption=c))
                    for c in CAPTIONS[:3]]
        data = model.data_preprocessor(
            dict(inputs=imgs + [None] * 3, data_samples=samples), False)
        out = model(**data, mode='predict')
        assert all('image_feat' in s for s in out[:2])
        assert all('text_feat' in s for s in out[2:])
        if k == 0:
            assert not any('image_tokens' in s or 'text_input_ids' in s
                           for s in out)
            continue
        # gallery tokens are encoded again at re-ranking, not kept
        assert not any('image_tokens' in s for s in out)
        text = data['inputs']['text']
        for row, s in enumerate(out[2:]):
            n = int(text['attention_mask'][row].sum())
            assert s.text_input_ids.tolist() == \
                text['input_ids'][row, :n].tolist()
            assert s.text_attention_mask.tolist() == [1] * n


def test_half_precision_tokens_from_an_amp_evaluation():
    model = build()
    similarity, text, image_tokens = inputs(model)
    half = image_tokens.half()
    close(model.rerank(similarity, text, list(half)),
          model.rerank(similarity, text, half.float()))


def test_pair_score_options_logit_difference_and_probability():
    """'diff' and 'prob' rank the candidates alike; 'logit' (ALBEF) can
    differ, since the 2-way cross-entropy never trains l1 alone."""
    from tbps.evaluation.functional.rerank import PAIR_SCORES
    logits = torch.tensor([[5.0, 6.0], [-3.0, 1.0], [0.0, 2.0]])
    assert PAIR_SCORES['logit'](logits).tolist() == [6.0, 1.0, 2.0]
    assert PAIR_SCORES['diff'](logits).tolist() == [1.0, 4.0, 2.0]
    prob = PAIR_SCORES['prob'](logits)
    torch.testing.assert_close(prob, torch.sigmoid(torch.tensor([1.0, 4.0,
                                                                 2.0])))
    assert prob.argsort().tolist() == PAIR_SCORES['diff'](logits).argsort() \
        .tolist() != PAIR_SCORES['logit'](logits).argsort().tolist()


def test_retriever_ranks_by_the_configured_pair_score():
    model = build(pair_score='diff')
    similarity, text, image_tokens = inputs(model)
    got = model.rerank(similarity, text, image_tokens)
    _, cand = topk_candidates(similarity, 5)
    diff = naive_logits(model, text, image_tokens, cand,
                        pair=lambda l: l[:, 1] - l[:, 0])
    close(got, torch.full(similarity.shape, -100.0).scatter_(1, cand, diff))
    with pytest.raises(ValueError, match='pair_score'):
        build(pair_score='softmax')
