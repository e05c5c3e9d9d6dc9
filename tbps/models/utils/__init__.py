from .clip_convert import (convert_clip_state_dict, load_openai_clip,
                           resize_clip_pos_embed)
from .distributed import all_gather_no_grad, all_gather_with_grad

__all__ = ['all_gather_no_grad', 'all_gather_with_grad',
           'convert_clip_state_dict', 'load_openai_clip',
           'resize_clip_pos_embed']
