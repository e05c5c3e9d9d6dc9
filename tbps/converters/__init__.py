"""Foreign checkpoint formats -> tbps state dicts (ALBEF, OpenAI CLIP, IRRA,
APTM; BERT as the initialisation of the fusion models).

``tools/model_converters/*2tbps.py`` are the command-line front ends."""
from .albef import convert_albef_state_dict
from .aptm import convert_aptm_state_dict
from .auto import detect_format, to_tbps_state_dict
from .bert import convert_bert_state_dict
from .clip import (OPENAI_CLIP_URLS, convert_clip_state_dict,
                   load_openai_clip)
from .irra import convert_irra_state_dict

__all__ = ['OPENAI_CLIP_URLS', 'convert_albef_state_dict',
           'convert_aptm_state_dict', 'convert_bert_state_dict',
           'convert_clip_state_dict', 'convert_irra_state_dict',
           'detect_format', 'load_openai_clip', 'to_tbps_state_dict']
