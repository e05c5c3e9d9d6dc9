"""Training heads. Fusion-retriever heads take one
:class:`~tbps.models.heads.fusion_batch.FusionBatch` in ``loss(batch)``
(see that module for the head contract)."""
from .attribute_prompt_head import (APTM_ATTRIBUTE_PROMPTS,
                                    AttributePromptHead)
from .bidir_attention import BidirAttentionPooling, backward_attention
from .caption_view_head import CaptionViewHead
from .fusion_batch import FusionBatch
from .irr_head import IRRHead
from .itc_head import InBatchITCHead, MomentumITCHead
from .itm_head import FusionTripletHead, ITMHead, hard_negatives
from .local_alignment_head import LocalAlignmentHead
from .masked_token_head import MaskedTokenHead, build_lm_prediction_head
from .text_enricher import TextEnricher

__all__ = ['APTM_ATTRIBUTE_PROMPTS', 'AttributePromptHead',
           'BidirAttentionPooling', 'CaptionViewHead', 'FusionBatch', 'FusionTripletHead',
           'IRRHead', 'InBatchITCHead', 'ITMHead', 'LocalAlignmentHead',
           'MaskedTokenHead', 'MomentumITCHead', 'TextEnricher',
           'backward_attention',
           'build_lm_prediction_head', 'hard_negatives']
