"""Word-level tokenizer (TextReID's BiGRU input) and the vocabulary tool."""
import pytest

from tbps.datasets.tokenizers import (WordTokenizer, build_word_vocab,
                                      split_words)


def write_vocab(tmp_path, words):
    path = tmp_path / 'vocab.txt'
    path.write_text('\n'.join(words) + '\n')
    return str(path)


def test_split_words_deletes_punctuation_and_lowercases():
    assert split_words('A Man, in a T-shirt.') == ['a', 'man', 'in', 'a',
                                                   'tshirt']


def test_vocab_keeps_frequent_words_most_frequent_first():
    captions = ['a red coat', 'a red bag', 'a blue coat', 'a hat']
    assert build_word_vocab(captions, min_count=2) == [
        '<pad>', '<unk>', 'a', 'coat', 'red']
    assert len(build_word_vocab(captions, min_count=1)) == 2 + 6


def test_ids_unknown_words_and_padding(tmp_path):
    tok = WordTokenizer(write_vocab(tmp_path, ['<pad>', '<unk>', 'a', 'red',
                                               'coat']), max_length=3)
    out = tok(['A red coat!', 'a green hat', 'red'])
    assert out['input_ids'].tolist() == [[2, 3, 4], [2, 1, 1], [3, 0, 0]]
    assert out['attention_mask'].tolist() == [[1, 1, 1], [1, 1, 1],
                                              [1, 0, 0]]
    assert tok(['a a a a a'])['input_ids'].shape == (1, 3)  # max_length
    assert tok.vocab_size == 5 and tok.vocabulary[3] == 'red'
    assert tok.decode([2, 3, 0]) == 'a red'


def test_missing_or_malformed_vocabulary(tmp_path):
    with pytest.raises(FileNotFoundError, match='build_word_vocab.py'):
        WordTokenizer(str(tmp_path / 'nope.txt'))
    with pytest.raises(ValueError, match='<pad> and <unk>'):
        WordTokenizer(write_vocab(tmp_path, ['a', 'red']))


def test_tool_builds_the_vocabulary_of_the_training_captions(
        tiny_synth_root, tmp_path, run_script):
    from tbps.registry import DATASETS
    out = tmp_path / 'words.txt'
    log = run_script(['tools/dataset_converters/build_word_vocab.py',
                      'configs/cmmoco/cmmoco_synth.py', '--out', str(out),
                      '--min-count', '2', '--cfg-options',
                      f'train_dataloader.dataset.data_root={tiny_synth_root}'])
    words = out.read_text().split('\n')[:-1]
    train = DATASETS.build(dict(type='SynthPEDES', data_root=tiny_synth_root,
                                split='train', pipeline=[]))
    captions = [train.get_data_info(i)['caption'] for i in range(len(train))]
    assert words == build_word_vocab(captions, min_count=2)
    assert f'{len(words) - 2} words' in log
    tok = WordTokenizer(str(out))
    assert (tok(captions[:4])['input_ids'] != 1).all()  # no unknown words
