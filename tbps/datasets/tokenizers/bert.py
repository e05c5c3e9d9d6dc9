"""BERT WordPiece tokenisation (transformers) behind one small interface."""
import inspect
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence

import torch

from tbps.registry import TOKENIZERS


def read_vocab(vocab_file: str) -> Dict[str, int]:
    """Read a WordPiece ``vocab.txt`` (one token per line) into token->id."""
    if not osp.isfile(vocab_file):
        raise FileNotFoundError(f'Vocabulary file {vocab_file!r} not found.')
    with open(vocab_file, encoding='utf-8') as f:
        tokens = [line.rstrip('\n') for line in f]
    return {tok: i for i, tok in enumerate(tokens) if tok}


def _hf_bert_tokenizer(name_or_path: Optional[str], vocab_file: Optional[str],
                       do_lower_case: bool):
    from transformers import BertTokenizerFast
    if vocab_file is not None:
        params = inspect.signature(BertTokenizerFast.__init__).parameters
        if 'vocab' in params:  # transformers >= 5 takes the vocabulary dict
            return BertTokenizerFast(vocab=read_vocab(vocab_file),
                                     do_lower_case=do_lower_case)
        return BertTokenizerFast(vocab_file=vocab_file,
                                 do_lower_case=do_lower_case)
    if name_or_path is None:
        raise ValueError('BertTokenizer needs `name_or_path` (a model name or '
                         'folder) or `vocab_file`.')
    local_only = os.environ.get('HF_HUB_OFFLINE', '0') == '1'
    tokenizer = BertTokenizerFast.from_pretrained(
        name_or_path, do_lower_case=do_lower_case, local_files_only=local_only)
    if len(tokenizer) <= len(tokenizer.all_special_ids):
        # transformers 5 falls back to a specials-only vocabulary when no
        # vocabulary file is found; never train with that silently.
        raise FileNotFoundError(
            f'BertTokenizer: no WordPiece vocabulary found for '
            f'{name_or_path!r} (offline or missing files). Download it once '
            'with internet access, or pass a local folder / vocab_file.')
    return tokenizer


@TOKENIZERS.register_module()
class BertTokenizer:
    """WordPiece tokenizer returning padded id tensors.

    Args:
        name_or_path (str, optional): transformers model name or folder
            (e.g. ``'bert-base-uncased'``).
        vocab_file (str, optional): A ``vocab.txt``; overrides
            ``name_or_path``.
        max_length (int): Tokens kept per caption, [CLS] and [SEP] included.
        do_lower_case (bool): Lower-case before splitting.
    """

    def __init__(self, name_or_path: Optional[str] = None,
                 vocab_file: Optional[str] = None, max_length: int = 72,
                 do_lower_case: bool = True):
        self.name_or_path = name_or_path
        self.vocab_file = vocab_file
        self.max_length = max_length
        self.hf = _hf_bert_tokenizer(name_or_path, vocab_file, do_lower_case)

    def __call__(self, texts: Sequence[str],
                 return_word_ids: bool = False) -> Dict[str, torch.Tensor]:
        """Tokenise a batch.

        Returns:
            dict: ``input_ids`` and ``attention_mask`` LongTensors [B, L]
            (L = longest caption, at most ``max_length``); with
            ``return_word_ids`` also ``word_ids`` [B, L] (index of the
            whitespace/punctuation word each token belongs to, -1 for
            special and padding tokens).
        """
        if isinstance(texts, str):
            texts = [texts]
        enc = self.hf(list(texts), padding='longest', truncation=True,
                      max_length=self.max_length, return_tensors='pt')
        out = dict(input_ids=enc['input_ids'],
                   attention_mask=enc['attention_mask'])
        if return_word_ids:
            out['word_ids'] = torch.tensor(
                [[-1 if w is None else w for w in enc.word_ids(i)]
                 for i in range(len(texts))], dtype=torch.long)
        return out

    @property
    def vocab_size(self) -> int:
        return len(self.hf)

    @property
    def vocabulary(self) -> List[str]:
        """The tokens in id order (word vectors of word-level models)."""
        return self.hf.convert_ids_to_tokens(list(range(len(self.hf))))

    @property
    def pad_token_id(self) -> int:
        return self.hf.pad_token_id

    @property
    def mask_token_id(self) -> int:
        return self.hf.mask_token_id

    @property
    def cls_token_id(self) -> int:
        return self.hf.cls_token_id

    @property
    def sep_token_id(self) -> int:
        return self.hf.sep_token_id

    @property
    def special_token_ids(self) -> List[int]:
        return sorted(set(self.hf.all_special_ids))

    def decode(self, ids) -> str:
        return self.hf.decode(ids, skip_special_tokens=True)


@TOKENIZERS.register_module()
class SynthPEDESTokenizer(BertTokenizer):
    """WordPiece tokenizer over the SynthPEDES grammar vocabulary shipped in
    the package (``tbps/datasets/synth/vocab.txt``): every word a synthetic
    caption can contain has its own id, so small CPU models need no
    pretrained vocabulary."""

    def __init__(self, max_length: int = 64):
        from tbps.datasets.synth import VOCAB_FILE
        super().__init__(vocab_file=VOCAB_FILE, max_length=max_length)
