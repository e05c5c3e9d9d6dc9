"""Word vectors + bidirectional GRU text encoder (TextReID / CM-MoCo)."""
from typing import Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmengine.model import BaseModule
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from tbps.registry import MODELS

WORD_VECTORS = ('learned', 'clip')


@MODELS.register_module()
class BiGRUTextEncoder(BaseModule):
    """Word vectors -> bidirectional GRU -> max-pool over time.

    ``word_vectors='clip'`` (TextReID): a frozen table holding, for every
    word of the tokenizer's vocabulary, CLIP's text feature of that word on
    its own (:func:`tbps.models.utils.clip_weights.clip_word_vectors`,
    computed from ``clip_checkpoint`` by :meth:`init_weights`, i.e. when
    training starts, and cached beside the CLIP file). The table is a
    buffer: never trained, saved in checkpoints, so testing a trained model
    needs no CLIP file. ``'learned'``: a trainable ``nn.Embedding`` (models
    trained from scratch, e.g. on SynthPEDES).

    The GRU reads each caption up to its length (packed sequences), so the
    feature does not depend on the other captions of the batch; the max-pool
    runs over real tokens only. (TextReID max-pools the zero-padded outputs
    up to the batch's longest caption, which makes a caption's feature
    depend on its batch.)

    Forward: input_ids [B, L], attention_mask [B, L] (padding on the
    right) -> ``(global [B, 2H], tokens [B, L, 2H])``, forward and backward
    states concatenated; padded token positions are zero.

    Args:
        vocab_size (int): Vocabulary size (``None`` in a config: the
            tokenizer's).
        embed_dim (int): Width of the word vectors (``'clip'``: the CLIP
            file's joint width, 512 for ViT-B/32, 1024 for RN50).
        hidden_dim (int): H, per direction (512).
        num_layers (int): GRU layers (1).
        bias (bool): GRU biases (TextReID: none).
        word_vectors (str): ``'learned'`` or ``'clip'``.
        clip_checkpoint (str, optional): OpenAI-format CLIP file, URL or zoo
            name, for ``'clip'``.
        vocab (Sequence[str], optional): The tokenizer's words in id order,
            for ``'clip'`` (``None`` in a config: filled by the retriever).
        cache_dir (str, optional): Where the word vectors are cached
            (default: beside the CLIP file).
    """

    def __init__(self, vocab_size: int, embed_dim: int = 512,
                 hidden_dim: int = 512, num_layers: int = 1,
                 bias: bool = False, word_vectors: str = 'learned',
                 clip_checkpoint: Optional[str] = None,
                 vocab: Optional[Sequence[str]] = None,
                 cache_dir: Optional[str] = None, init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        if word_vectors not in WORD_VECTORS:
            raise ValueError(f'word_vectors must be one of {WORD_VECTORS}, '
                             f'got {word_vectors!r}')
        self.word_vectors = word_vectors
        self.clip_checkpoint, self.cache_dir = clip_checkpoint, cache_dir
        self.vocab = None if vocab is None else list(vocab)
        if word_vectors == 'clip':
            if clip_checkpoint is None:
                raise ValueError(
                    "word_vectors='clip' needs model.text_encoder."
                    'clip_checkpoint: an OpenAI-format CLIP file, URL or zoo '
                    "name (e.g. 'clip_vit-b32_openai').")
            if self.vocab is None or len(self.vocab) != vocab_size:
                raise ValueError(
                    "word_vectors='clip' needs the tokenizer's vocabulary "
                    f'({vocab_size} words, in id order) as `vocab`.')
            # filled by init_weights() from the CLIP file, or by a checkpoint
            self.register_buffer('word_table',
                                 torch.zeros(vocab_size, embed_dim))
            self.register_buffer('word_table_ready', torch.zeros((),
                                                                 dtype=torch.bool))
            self.embedding = None
        else:
            self.embedding = nn.Embedding(vocab_size, embed_dim)
        self.gru = nn.GRU(embed_dim, hidden_dim, num_layers=num_layers,
                          bias=bias, batch_first=True, bidirectional=True)
        self.embed_dim = 2 * hidden_dim

    def init_weights(self):
        """Compute the frozen CLIP word vectors (``word_vectors='clip'``)."""
        super().init_weights()
        if self.embedding is not None:
            return
        from tbps.models.utils.clip_weights import clip_word_vectors
        table = clip_word_vectors(self.clip_checkpoint, self.vocab,
                                  cache_dir=self.cache_dir)
        if table.shape != self.word_table.shape:
            raise ValueError(
                f'{self.clip_checkpoint} gives {table.shape[1]}-d word '
                f'vectors; set model.text_encoder.embed_dim='
                f'{table.shape[1]} (it is {self.word_table.shape[1]}).')
        self.word_table.copy_(table)
        self.word_table_ready.fill_(True)

    def embed(self, input_ids: torch.Tensor) -> torch.Tensor:
        if self.embedding is not None:
            return self.embedding(input_ids)
        if not bool(self.word_table_ready):
            raise RuntimeError(
                'BiGRUTextEncoder: the CLIP word vectors are not computed; '
                'call init_weights() (training does) or load a checkpoint '
                'that holds them.')
        return self.word_table[input_ids]

    def forward(self, input_ids: torch.Tensor,
                attention_mask: Optional[torch.Tensor] = None
                ) -> Tuple[torch.Tensor, torch.Tensor]:
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        lengths = attention_mask.sum(1).clamp(min=1)
        packed = pack_padded_sequence(self.embed(input_ids), lengths.cpu(),
                                      batch_first=True, enforce_sorted=False)
        out, _ = self.gru(packed)
        tokens, _ = pad_packed_sequence(out, batch_first=True,
                                        total_length=input_ids.shape[1])
        valid = attention_mask.bool()
        valid[:, 0] = True  # an empty caption pools its first step
        valid = valid.unsqueeze(-1)
        pooled = tokens.masked_fill(~valid, float('-inf')).amax(dim=1)
        return pooled, tokens
