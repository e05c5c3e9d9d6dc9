"""Image-text contrastive (ITC) heads of the fusion retriever."""
from typing import Dict, Optional

import torch
import torch.nn as nn

from tbps.registry import MODELS


@MODELS.register_module()
class MomentumITCHead(nn.Module):
    """ALBEF's ITC: online features against the momentum encoders' features
    and feature queues, with momentum distillation
    (:class:`~tbps.models.losses.MomentumITCLoss`). After the loss, the
    batch's momentum features of all ranks are enqueued.

    Needs the retriever's momentum encoders (``FusionRetriever(momentum=
    0.995)``).

    Args:
        embed_dim (int): Feature size (filled by the retriever).
        queue_size (int): Queue length (65536 in ALBEF); a multiple of the
            global batch size.
        temperature (float): Initial learnable temperature (0.07).
        alpha (float): Distillation weight (0.4).
        alpha_warmup_epochs (float): The weight rises linearly from 0 to
            ``alpha`` over this many training epochs, as ALBEF's
            ``alpha * min(1, i / len(data_loader))`` in the first epoch
            (1); 0 uses ``alpha`` from the first step. Read from the
            runner's iteration counter (so resuming continues the ramp);
            outside a runner, ``alpha``.
        loss_name (str): Key of the returned loss.
    """

    needs_momentum = True

    def __init__(self, embed_dim: int, queue_size: int = 65536,
                 temperature: float = 0.07, alpha: float = 0.4,
                 alpha_warmup_epochs: float = 1.0,
                 loss_name: str = 'loss_itc'):
        super().__init__()
        self.loss_module = MODELS.build(dict(
            type='MomentumITCLoss', embed_dim=embed_dim,
            queue_size=queue_size, temperature=temperature, alpha=alpha))
        self.alpha = alpha
        self.alpha_warmup_epochs = alpha_warmup_epochs
        self.loss_name = loss_name

    def current_alpha(self) -> float:
        """The distillation weight of this training step."""
        if not self.alpha_warmup_epochs:
            return self.alpha
        from mmengine.logging import MessageHub
        hub = MessageHub.get_current_instance()
        step, max_iters, max_epochs = (hub.get_info(k) for k in (
            'iter', 'max_iters', 'max_epochs'))
        if step is None or not max_iters or not max_epochs:
            return self.alpha
        ramp = self.alpha_warmup_epochs * max_iters / max_epochs
        return self.alpha * min(1.0, step / ramp)

    @property
    def temperature(self) -> torch.Tensor:
        """The current (learnable) temperature, shared with hard-negative
        mining (:class:`ITMHead`)."""
        return self.loss_module.temperature

    def loss(self, batch) -> Dict[str, torch.Tensor]:
        image_m, text_m = batch.momentum_embeds()
        loss = self.loss_module(batch.image_embed, batch.text_embed,
                                image_m, text_m, batch.pids,
                                alpha=self.current_alpha())
        self.loss_module.enqueue(image_m, text_m, batch.pids)
        return {self.loss_name: loss}


@MODELS.register_module()
class InBatchITCHead(nn.Module):
    """ITC over the (rank-gathered) batch without queues or momentum
    encoders (APTM): a contrastive loss, by default
    :class:`~tbps.models.losses.InfoNCELoss` with identity targets and a
    learnable temperature (0.07).

    Args:
        loss (dict): The loss config, called as ``loss(image, text, pids)``.
        loss_name (str): Key of the returned loss.
    """

    def __init__(self, loss: Optional[dict] = None,
                 loss_name: str = 'loss_itc'):
        super().__init__()
        self.loss_module = MODELS.build(loss or dict(
            type='InfoNCELoss', temperature=0.07, use_pids=True))
        self.loss_name = loss_name

    @property
    def temperature(self) -> torch.Tensor:
        return self.loss_module.temperature

    def loss(self, batch) -> Dict[str, torch.Tensor]:
        return {self.loss_name: self.loss_module(
            batch.image_embed, batch.text_embed, batch.pids)}
