from .bidir_attention import BidirAttentionPooling
from .irr_head import IRRHead
from .itm_head import ITMHead, MaskedTokenHead

__all__ = ['BidirAttentionPooling', 'IRRHead', 'ITMHead', 'MaskedTokenHead']
