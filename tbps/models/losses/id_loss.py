"""Identity (instance) classification loss shared by both modalities."""
import torch
import torch.nn as nn
import torch.nn.functional as F

from tbps.registry import MODELS


@MODELS.register_module()
class IDLoss(nn.Module):
    """L = 1/2 [ CE(W v + b, y) + CE(W t + b, y) ]

    One linear classifier (W, b) over the training identities is applied to
    the image and the text embedding of each pair, so both modalities are
    pushed towards the same identity prototypes (Zheng et al., "Dual-path
    convolutional image-text embeddings", 2017; IRRA's ID loss). As in IRRA
    the inputs are the global embeddings after the projection into the joint
    space, not normalised (``embed_dim`` wide, 512 for CLIP ViT-B/16), and
    the classifier starts at W ~ N(0, 0.001^2), b = 0.

    The loss module owns the classifier (``classifier.weight`` /
    ``classifier.bias`` under ``losses.<name>`` in a retriever's state
    dict). Each row is classified on its own, so nothing is gathered across
    ranks: DDP's gradient average already gives the global-batch mean.

    Args:
        num_classes (int): Number of training identities; training pids
            must lie in ``0..num_classes-1`` (datasets remap them).
        in_dim (int): Embedding size.
        label_smoothing (float): Cross-entropy label smoothing (0 in IRRA).
        init_std (float): Std of the classifier weight init.
        normalize_weight (bool): Classify with unit-norm weight vectors,
            ``logits = x W^T / |W_c|`` per class c (TextReID's ID loss: the
            feature is not normalised and there is no scale).
        bias (bool): A classifier bias (IRRA: yes; TextReID: no).

    A pid outside ``0..num_classes-1`` raises a clear ``ValueError``
    (instead of an opaque device-side assert) when it is seen by the check:
    pids on the CPU are checked on every call (no cost); pids on an
    accelerator are checked on the first call only, since reading
    ``pids.max()`` there synchronises the device every step. A wrong
    ``num_classes`` is a configuration error, which the first batch almost
    always shows.
    """

    def __init__(self, num_classes: int, in_dim: int = 512,
                 label_smoothing: float = 0.0, init_std: float = 0.001,
                 normalize_weight: bool = False, bias: bool = True):
        super().__init__()
        self.num_classes = num_classes
        self.label_smoothing = label_smoothing
        self.normalize_weight = normalize_weight
        self.classifier = nn.Linear(in_dim, num_classes, bias=bias)
        nn.init.normal_(self.classifier.weight, std=init_std)
        if bias:
            nn.init.zeros_(self.classifier.bias)
        self._checked_device_pids = False

    def forward(self, image_feats: torch.Tensor, text_feats: torch.Tensor,
                pids: torch.Tensor) -> torch.Tensor:
        """image_feats, text_feats: [B, in_dim]; pids: [B] -> scalar."""
        if pids.device.type == 'cpu' or not self._checked_device_pids:
            self._check_pids(pids)
            self._checked_device_pids = pids.device.type != 'cpu'
        loss = sum(F.cross_entropy(self.logits(feats.float()), pids,
                                   label_smoothing=self.label_smoothing)
                   for feats in (image_feats, text_feats)) / 2
        return loss

    def logits(self, feats: torch.Tensor) -> torch.Tensor:
        """feats [B, in_dim] -> class logits [B, num_classes]."""
        if not self.normalize_weight:
            return self.classifier(feats)
        return F.linear(feats, F.normalize(self.classifier.weight, dim=1),
                        self.classifier.bias)

    def _check_pids(self, pids: torch.Tensor) -> None:
        top = int(pids.max()) if pids.numel() else -1
        if top >= self.num_classes:
            raise ValueError(
                f'IDLoss: pid {top} >= num_classes {self.num_classes}; set '
                'num_classes (model.losses.<name>.num_classes) to the number '
                'of training identities.')
