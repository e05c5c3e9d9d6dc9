from .projection import LinearProjection

__all__ = ['LinearProjection']
