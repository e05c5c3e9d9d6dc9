"""Pictures: retrieval grids and attention maps (TBPSVisualizer)."""
from .attention import patch_weights, phrase_attention
from .visualizer import TBPSVisualizer

__all__ = ['TBPSVisualizer', 'patch_weights', 'phrase_attention']
