from .bidir_attention import BidirAttentionPooling
from .itm_head import ITMHead, MaskedTokenHead

__all__ = ['BidirAttentionPooling', 'ITMHead', 'MaskedTokenHead']
