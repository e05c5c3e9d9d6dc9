from .staged_cosine import StagedCosineLR

__all__ = ['StagedCosineLR']
