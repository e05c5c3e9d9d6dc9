from .retrieval_loop import (GalleryImageTokens, RetrievalTestLoop,
                             RetrievalValLoop, bind_reranker)

__all__ = ['GalleryImageTokens', 'RetrievalValLoop', 'RetrievalTestLoop',
           'bind_reranker']
