"""Dual-encoder retriever (CLIP style): independent image and text
encoders, linear projections, alignment losses on global embeddings."""
from typing import Dict, List, Optional

import torch

from tbps.registry import MODELS
from .base import BaseRetriever


@MODELS.register_module()
class DualEncoderRetriever(BaseRetriever):
    """Image encoder + text encoder + projections to ``embed_dim``.

    Args:
        image_encoder (dict): Returns ``(global, tokens)`` from images.
        text_encoder (dict): Returns ``(global, tokens)`` from
            ``input_ids, attention_mask``. ``vocab_size=None`` in the config
            means "the tokenizer's vocabulary size".
        embed_dim (int): Joint embedding size.
        image_proj, text_proj (dict, optional): Projection necks; default a
            :class:`LinearProjection` from the encoder width.
        losses (dict): name -> loss config; each loss is called as
            ``loss(image_feats [B, D], text_feats [B, D], pids [B])`` and
            logged as ``loss_<name>``.
        data_preprocessor (dict): A :class:`TBPSDataPreprocessor` config.
    """

    def __init__(self, image_encoder: dict, text_encoder: dict,
                 embed_dim: int = 512, image_proj: Optional[dict] = None,
                 text_proj: Optional[dict] = None,
                 losses: Optional[Dict[str, dict]] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg=None):
        super().__init__(data_preprocessor=data_preprocessor,
                         init_cfg=init_cfg)
        self.image_encoder = MODELS.build(image_encoder)
        self.text_encoder = self.build_text_encoder(text_encoder)
        self.embed_dim = embed_dim
        self.image_proj = MODELS.build(image_proj or dict(
            type='LinearProjection', in_dim=self.image_encoder.embed_dim,
            out_dim=embed_dim))
        self.text_proj = MODELS.build(text_proj or dict(
            type='LinearProjection', in_dim=self.text_encoder.embed_dim,
            out_dim=embed_dim))
        losses = losses if losses is not None else dict(
            itc=dict(type='InfoNCELoss'))
        if not losses:
            raise ValueError('DualEncoderRetriever needs at least one loss.')
        self.losses = torch.nn.ModuleDict(
            {name: MODELS.build(cfg) for name, cfg in losses.items()})

    def extract_image_feat(self, images):
        """-> ``global`` [B, D] (projected), ``encoder_global`` [B, C],
        ``tokens`` [B, 1+N, C]."""
        global_feat, tokens = self.image_encoder(images)
        return {'global': self.image_proj(global_feat),
                'encoder_global': global_feat, 'tokens': tokens}

    def extract_text_feat(self, text):
        """-> ``global`` [B, D] (projected), ``encoder_global`` [B, C],
        ``tokens`` [B, L, C]."""
        global_feat, tokens = self.text_encoder(text['input_ids'],
                                                text['attention_mask'])
        return {'global': self.text_proj(global_feat),
                'encoder_global': global_feat, 'tokens': tokens}

    def loss(self, inputs: dict, data_samples: List) -> Dict[str, torch.Tensor]:
        self.check_pairs(inputs)
        image_feats = self.extract_image_feat(inputs['images'])['global']
        text_feats = self.extract_text_feat(inputs['text'])['global']
        pids = self.pids_of(data_samples, image_feats.device)
        return {f'loss_{name}': loss(image_feats, text_feats, pids)
                for name, loss in self.losses.items()}
