"""Dual encoder with momentum encoders and cross-modal queues (CM-MoCo,
TextReID)."""
from typing import Dict, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import ExponentialMovingAverage

from tbps.registry import MODELS
from .dual_encoder import DualEncoderRetriever


@MODELS.register_module()
class MomentumContrastRetriever(DualEncoderRetriever):
    """:class:`DualEncoderRetriever` plus CM-MoCo's momentum contrast.

    Momentum copies of the two encoders follow the online ones by EMA
    (``momentum`` m: theta' <- m theta' + (1 - m) theta, updated every step
    before the keys are computed). The keys are the momentum encoders'
    features through the *online* projections (without gradient) and
    normalised, as TextReID (its projection layers have no momentum copy).
    The ``moco`` loss (:class:`CrossModalMoCoLoss`, which owns the queues)
    compares the normalised online features with them, and is logged as
    ``loss_moco``; ``losses`` (e.g. ``AlignmentLoss``, ``IDLoss``) run on
    the projected, unnormalised features as in every dual encoder.

    Args:
        momentum (float): m (0.999).
        moco (dict): The momentum-contrast loss; ``embed_dim`` is filled.
        **kwargs: :class:`DualEncoderRetriever` arguments
            (``loss_weights`` may name ``moco``; 0 skips it and the
            momentum encoders).
    """

    def __init__(self, *args, momentum: float = 0.999,
                 moco: Optional[dict] = None, **kwargs):
        loss_weights = dict(kwargs.pop('loss_weights', None) or {})
        moco_weight = float(loss_weights.pop('moco', 1.0))
        super().__init__(*args, loss_weights=loss_weights, **kwargs)
        if 'moco' in self.losses:
            raise ValueError("'moco' names the momentum-contrast loss; "
                             'rename that entry of losses.')
        moco = dict(moco or dict(type='CrossModalMoCoLoss'))
        moco.setdefault('embed_dim', self.embed_dim)
        self.moco = MODELS.build(moco)
        self.loss_weights['moco'] = moco_weight
        if not 0.0 < momentum < 1.0:
            raise ValueError(f'momentum must be in (0, 1), got {momentum}')
        self.momentum_encoders = ExponentialMovingAverage(
            self._momentum_sources(), momentum=1.0 - momentum)

    def _momentum_sources(self) -> nn.ModuleDict:
        return nn.ModuleDict(dict(image_encoder=self.image_encoder,
                                  text_encoder=self.text_encoder))

    @torch.no_grad()
    def momentum_keys(self, images: torch.Tensor,
                      text: Dict[str, torch.Tensor]):
        """EMA-update the momentum encoders, then the unit-norm keys
        (image [B, D], text [B, D])."""
        self.momentum_encoders.update_parameters(self._momentum_sources())
        m = self.momentum_encoders.module
        image = self.image_proj(m.image_encoder(images)[0])
        caption = self.text_proj(m.text_encoder(text['input_ids'],
                                                text['attention_mask'])[0])
        return F.normalize(image, dim=-1), F.normalize(caption, dim=-1)

    def extra_losses(self, inputs: dict, image_feats: torch.Tensor,
                     text_feats: torch.Tensor,
                     pids: torch.Tensor) -> Dict[str, torch.Tensor]:
        """``loss_moco`` of the online features against the momentum keys;
        the keys then enter the queues."""
        if not self.weight('moco'):
            return {}
        image_key, text_key = self.momentum_keys(inputs['images'],
                                                 inputs['text'])
        loss = self.moco(F.normalize(image_feats, dim=-1),
                         F.normalize(text_feats, dim=-1), image_key,
                         text_key, pids)
        self.moco.enqueue(image_key, text_key, pids)
        return {'loss_moco': self.weight('moco') * loss}
