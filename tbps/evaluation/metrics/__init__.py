"""Evaluation metrics registered in ``tbps.registry.METRICS``."""
from .retrieval import TextToImageRetrievalMetric

__all__ = ['TextToImageRetrievalMetric']
