"""High-level APIs: the model zoo, model loading and photo search."""
from .inference import init_model
from .model_zoo import get_model, list_models, model_info
from .searcher import TextPersonSearcher

__all__ = ['init_model', 'get_model', 'list_models', 'model_info',
           'TextPersonSearcher']
