from .retrieval_loop import RetrievalTestLoop, RetrievalValLoop, bind_reranker

__all__ = ['RetrievalValLoop', 'RetrievalTestLoop', 'bind_reranker']
