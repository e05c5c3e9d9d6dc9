"""Foreign checkpoint formats -> tbps state dicts (ALBEF, OpenAI CLIP).

``tools/model_converters/*2tbps.py`` are the command-line front ends."""
from .albef import convert_albef_state_dict
from .clip import (OPENAI_CLIP_URLS, convert_clip_state_dict,
                   load_openai_clip)

__all__ = ['OPENAI_CLIP_URLS', 'convert_albef_state_dict',
           'convert_clip_state_dict', 'load_openai_clip']
