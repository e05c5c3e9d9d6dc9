"""LAIP's bidirectional-attention (BidirAtt) pooling of image patches."""
import torch
import torch.nn as nn

from tbps.registry import MODELS

MODES = ('bidirectional', 'forward', 'backward')


def backward_attention(logits: torch.Tensor, labels: torch.Tensor,
                       attention: torch.Tensor,
                       retain_graph: bool = False) -> torch.Tensor:
    """LAIP Eqs. 5-6: gradient of the masked words' prediction scores
    (summed logits of their labels) w.r.t. the attention map.

    logits [B, L, V] and labels [B, L] (-100 off the masked words) of the
    masked-token head; attention [B, H, L, N] in the same graph -> [B, H,
    L, N].
    """
    score = logits.gather(-1, labels.clamp(min=0)[..., None]).squeeze(-1)
    score = (score * (labels >= 0)).sum()
    return torch.autograd.grad(score, attention,
                               retain_graph=retain_graph)[0]


@MODELS.register_module()
class BidirAttentionPooling(nn.Module):
    """Phrase-guided image representation (LAIP Eqs. 4-8).

    In one cross-attention layer of the fusion encoder, with probabilities
    A [B, H, L, N] (phrase tokens x image tokens, token 0 of both being
    [CLS]) and the gradient G = d s / d A of the masked word's prediction
    score s:

        forward  F_i = mean_h A[h, 0, i]            (phrase [CLS] row)
        backward B_i = mean_h G[h, 0, i]
        w        = normalise(combine(F, B)) over patches i >= 1
        v_p      = sum_i w_i v_i                     (Eq. 8)

    ``combine`` is not spelled out in the LAIP paper; the
    default ``'product'`` uses F * relu(B) (Grad-CAM style, as in ALBEF's
    grounding), ``'sum'`` averages F and relu(B) after normalising each.
    ``mode='forward'`` / ``'backward'`` use one side only (ablations). If a
    row's combined weights are all zero the forward attention is used.
    """

    def __init__(self, mode: str = 'bidirectional', combine: str = 'product',
                 eps: float = 1e-12):
        super().__init__()
        if mode not in MODES:
            raise ValueError(f'mode must be one of {MODES}, got {mode!r}.')
        if combine not in ('product', 'sum'):
            raise ValueError(f"combine must be 'product' or 'sum', got "
                             f'{combine!r}.')
        self.mode, self.combine, self.eps = mode, combine, eps

    @property
    def needs_gradient(self) -> bool:
        return self.mode != 'forward'

    def _normalise(self, w: torch.Tensor) -> torch.Tensor:
        return w / w.sum(dim=-1, keepdim=True).clamp(min=self.eps)

    def weights(self, attention: torch.Tensor,
                gradient: torch.Tensor = None) -> torch.Tensor:
        """attention, gradient [B, H, L, N] -> patch weights [B, N-1]
        (non-negative, each row sums to 1)."""
        fwd = attention[:, :, 0, 1:].mean(dim=1)
        if self.mode == 'forward':
            return self._normalise(fwd)
        if gradient is None:
            raise ValueError(f'mode {self.mode!r} needs the gradient.')
        bwd = gradient[:, :, 0, 1:].mean(dim=1).clamp(min=0)
        if self.mode == 'backward':
            w = bwd
        elif self.combine == 'product':
            w = fwd * bwd
        else:
            w = self._normalise(fwd) + self._normalise(bwd)
        empty = w.sum(dim=-1, keepdim=True) <= self.eps
        w = torch.where(empty, fwd, w)
        return self._normalise(w)

    def forward(self, patch_tokens: torch.Tensor, attention: torch.Tensor,
                gradient: torch.Tensor = None):
        """patch_tokens [B, N-1, C] -> (pooled [B, C], weights [B, N-1])."""
        w = self.weights(attention, gradient)
        return torch.einsum('bn,bnc->bc', w.to(patch_tokens.dtype),
                            patch_tokens), w
