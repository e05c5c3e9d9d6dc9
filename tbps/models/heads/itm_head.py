"""Image-text matching head and masked-token prediction head."""
import torch
import torch.nn as nn

from tbps.registry import MODELS


@MODELS.register_module()
class ITMHead(nn.Module):
    """Binary match classifier on the fused [CLS] token: [B, C] -> logits
    [B, 2] (index 1 = matching pair)."""

    def __init__(self, in_dim: int):
        super().__init__()
        self.fc = nn.Linear(in_dim, 2)

    def forward(self, fused_cls: torch.Tensor) -> torch.Tensor:
        return self.fc(fused_cls)

    def match_score(self, fused_cls: torch.Tensor) -> torch.Tensor:
        """Probability that each pair matches, [B]."""
        return self.forward(fused_cls).softmax(dim=-1)[:, 1]


@MODELS.register_module()
class MaskedTokenHead(nn.Module):
    """BERT's masked-LM head: dense -> GELU -> LayerNorm -> vocabulary.

    Parameter names follow ``BertLMPredictionHead`` (``transform.dense``,
    ``transform.LayerNorm``, ``decoder``, ``bias``) so ALBEF/BERT weights
    load directly. [..., C] -> logits [..., vocab_size].
    """

    def __init__(self, in_dim: int, vocab_size: int,
                 layer_norm_eps: float = 1e-12):
        super().__init__()
        self.transform = nn.Module()
        self.transform.dense = nn.Linear(in_dim, in_dim)
        self.transform.LayerNorm = nn.LayerNorm(in_dim, eps=layer_norm_eps)
        self.decoder = nn.Linear(in_dim, vocab_size, bias=False)
        self.bias = nn.Parameter(torch.zeros(vocab_size))

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        x = nn.functional.gelu(self.transform.dense(hidden))
        x = self.transform.LayerNorm(x)
        return self.decoder(x) + self.bias
