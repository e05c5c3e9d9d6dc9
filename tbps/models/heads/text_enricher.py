"""Text enrichment (TEM, AGA): replace masked words of a caption by the
MLM head's predictions before the alignment heads read it."""
from typing import Dict

import torch
import torch.nn as nn

from tbps.registry import MODELS
from tbps.models.maskers.random_word_masker import word_piece_tables
from tbps.models.maskers.random_word_masker import special_ids


@MODELS.register_module()
class TextEnricher(nn.Module):
    """Rewrite the batch's captions with the masked-token head's guesses.

    The masked pass of the head ``mlm_head`` (computed once per batch and
    shared with that head's own loss) predicts every masked position; at
    each masked position the top prediction of the online model (detached;
    ``predictor='online'``) or of the momentum model (``'momentum'``: the
    momentum image and text encoders, fusion encoder and MLM predictor on
    the same masked captions, with the momentum weights of the previous
    step, as the EMA update runs later in the step) replaces the original
    token with probability ``prob``, when

    * it differs from the original token,
    * the original is a whole word (one piece: not a ``##`` piece and not
      followed by one), and
    * the prediction is a whole-word piece (not ``##``, special or
      punctuation).

    The rewritten captions are re-encoded (one extra text-encoder pass) and
    every head after this one (ITC, ITM) reads them; the masked-token loss
    keeps the original caption. Logged as ``tem_replaced``: the number of
    tokens replaced in the batch. It has no loss: its weight in
    ``loss_weights`` only switches it on (1) or off (0), e.g. from a start
    epoch with :class:`LossStageHook`. The retriever runs it before the
    other heads (``edits_text``).

    Args:
        tokenizer: The retriever's tokenizer (filled).
        mlm_head (str): Name of the :class:`MaskedTokenHead` whose
            predictions are used (its masker must mask whole captions:
            random or attention-guided words, not phrases).
        prob (float): Replacement probability p of an eligible position.
        predictor (str): Whose MLM prediction replaces a word: ``'online'``
            (default, detached) or ``'momentum'`` (needs the retriever's
            momentum model; adds momentum copies of the fusion encoder and
            of the MLM head's predictor to it).
    """
    edits_text = True

    def __init__(self, tokenizer, mlm_head: str = 'mlm', prob: float = 0.5,
                 predictor: str = 'online'):
        super().__init__()
        if not 0 <= prob <= 1:
            raise ValueError(f'prob must be in [0, 1], got {prob}.')
        if predictor not in ('online', 'momentum'):
            raise ValueError(f"predictor must be 'online' or 'momentum', got "
                             f'{predictor!r}.')
        self.mlm_head = mlm_head
        self.prob = prob
        self.predictor = predictor
        continuation, punctuation = word_piece_tables(tokenizer)
        bad = continuation | punctuation
        bad[special_ids(tokenizer).clamp(max=len(bad) - 1)] = True
        self.register_buffer('continuation', continuation, persistent=False)
        self.register_buffer('not_a_word', bad, persistent=False)

    @property
    def needs_momentum(self) -> bool:
        return self.predictor == 'momentum'

    @property
    def momentum_modules(self):
        """What the momentum predictor adds to the momentum model."""
        if self.predictor != 'momentum':
            return ()
        return ('fusion_encoder', f'heads.{self.mlm_head}.predictor')

    @torch.no_grad()
    def momentum_logits(self, batch, out) -> torch.Tensor:
        """Vocabulary logits [B', L', V] of the momentum model on the
        masked pass's rows (``masked_ids``, ``attention_mask``, ``rows``)."""
        m = batch.momentum_model()
        image_tokens = m.image_encoder(batch.images)[1][out['rows']]
        _, tokens = m.text_encoder(out['masked_ids'], out['attention_mask'])
        fused = m.fusion_encoder(tokens, out['attention_mask'],
                                 image_tokens)[0]
        return m.heads[self.mlm_head].predictor(fused)

    def replacements(self, input_ids: torch.Tensor, labels: torch.Tensor,
                     pred: torch.Tensor) -> torch.Tensor:
        """BoolTensor [B', L]: masked positions eligible for replacement by
        the predicted ids ``pred`` [B', L] (before the draw with
        ``prob``)."""
        masked = labels != -100
        piece = self.continuation[input_ids]
        next_piece = torch.zeros_like(piece)
        next_piece[:, :-1] = piece[:, 1:]
        return masked & (pred != input_ids) & ~piece & ~next_piece \
            & ~self.not_a_word[pred]

    def loss(self, batch) -> Dict[str, torch.Tensor]:
        if self.mlm_head not in batch.heads:
            raise KeyError(f'TextEnricher: no head {self.mlm_head!r} '
                           f'(heads: {list(batch.heads)}).')
        out = batch.heads[self.mlm_head].masked_pass(batch)
        input_ids = batch.text['input_ids']
        valid = out['valid']
        if out['input_ids'].shape != input_ids[valid].shape or \
                not torch.equal(out['input_ids'], input_ids[valid]):
            raise ValueError(
                f'TextEnricher: the masker of head {self.mlm_head!r} does '
                'not mask the captions themselves (e.g. phrases); use a '
                'RandomWordMasker or AttentionGuidedMasker there.')
        logits = self.momentum_logits(batch, out) \
            if self.predictor == 'momentum' else out['logits'].detach()
        pred = logits.argmax(-1)
        eligible = self.replacements(out['input_ids'], out['labels'], pred)
        draw = torch.rand(eligible.shape, device=eligible.device)
        replace = eligible & (draw < self.prob)
        count = replace.sum()
        if count:
            rows = input_ids[valid]
            rows = torch.where(replace, pred, rows)
            new_ids = input_ids.clone()
            new_ids[valid] = rows
            batch.retext(new_ids)
        return {'tem_replaced': count.float()}
