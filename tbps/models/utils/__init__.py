from .distributed import all_gather_no_grad, all_gather_with_grad
from .pos_embed import resize_clip_pos_embed, square_grid

__all__ = ['all_gather_no_grad', 'all_gather_with_grad',
           'resize_clip_pos_embed', 'square_grid']
