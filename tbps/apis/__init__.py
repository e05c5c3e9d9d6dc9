"""High-level APIs: the model zoo and model loading."""
from .inference import init_model
from .model_zoo import get_model, list_models, model_info

__all__ = ['init_model', 'get_model', 'list_models', 'model_info']
