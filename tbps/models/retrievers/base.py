"""What every tbps retriever shares: mode dispatch, ``encode_image`` /
``encode_text`` and writing features into data samples for evaluation."""
from abc import abstractmethod
from typing import Dict, List, Optional, Sequence

import torch
import torch.nn.functional as F
from mmengine.model import BaseModel

from tbps.registry import MODELS
from tbps.structures import TBPSDataSample, stack_pids


def _refuse_foreign_format(state_dict, prefix, *args) -> None:
    """A checkpoint in another codebase's layout (ALBEF, OpenAI CLIP, IRRA)
    loaded as is would leave every weight missing: say how to convert it."""
    if prefix:
        return
    from tbps.converters.auto import CONVERTERS, detect_format
    fmt = detect_format(state_dict)
    if fmt != 'tbps':
        raise RuntimeError(
            f'The checkpoint is in {fmt} format, not tbps\'s: none of its '
            f'keys fit the model. Convert it once with python '
            f'{CONVERTERS[fmt]} SRC DST and load DST, or load it with '
            'tbps.apis.init_model(config, checkpoint), which converts it on '
            'the fly.')


class BaseRetriever(BaseModel):
    """Base text-to-image retriever.

    ``inputs`` is the dict made by :class:`TBPSDataPreprocessor`
    (``images``, ``image_index``, ``text``, ``text_index``). Subclasses
    implement :meth:`extract_image_feat`, :meth:`extract_text_feat` and
    :meth:`loss`.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._register_load_state_dict_pre_hook(_refuse_foreign_format)

    def forward(self, inputs: dict,
                data_samples: Optional[List[TBPSDataSample]] = None,
                mode: str = 'tensor'):
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        if mode == 'tensor':
            return self.extract_feat(inputs)
        raise RuntimeError(f'Invalid mode "{mode}"; use loss, predict or '
                           'tensor.')

    @property
    def tokenizer(self):
        return self.data_preprocessor.tokenizer

    def build_text_encoder(self, cfg: dict):
        """Build a text encoder; ``vocab_size=None`` takes the tokenizer's
        vocabulary size, ``vocab=None`` its tokens in id order."""
        cfg = dict(cfg)
        if 'vocab_size' in cfg and cfg['vocab_size'] is None:
            cfg['vocab_size'] = self.tokenizer.vocab_size
        if 'vocab' in cfg and cfg['vocab'] is None:
            cfg['vocab'] = list(self.tokenizer.vocabulary)
        return MODELS.build(cfg)

    # -- features -------------------------------------------------------
    @abstractmethod
    def extract_image_feat(self, images: torch.Tensor) -> Dict[str, torch.Tensor]:
        """images [B, 3, H, W] -> dict with at least ``global`` [B, D]."""

    @abstractmethod
    def extract_text_feat(self, text: Dict[str, torch.Tensor]
                          ) -> Dict[str, torch.Tensor]:
        """Tokenised text -> dict with at least ``global`` [B, D]."""

    def extract_feat(self, inputs: dict) -> Dict[str, Optional[torch.Tensor]]:
        """Normalised global embeddings of whatever the batch holds."""
        image_feats = text_feats = None
        if inputs.get('images') is not None:
            image_feats = F.normalize(
                self.extract_image_feat(inputs['images'])['global'], dim=-1)
        if inputs.get('text') is not None:
            text_feats = F.normalize(
                self.extract_text_feat(inputs['text'])['global'], dim=-1)
        return dict(image_feats=image_feats, text_feats=text_feats)

    @torch.no_grad()
    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        """Normalised images [B, 3, H, W] -> embeddings [B, D] (unit norm)."""
        feats = self.extract_image_feat(images.to(self.data_preprocessor.device))
        return F.normalize(feats['global'], dim=-1)

    @torch.no_grad()
    def encode_text(self, texts: Sequence[str]) -> torch.Tensor:
        """Captions (list of str) -> embeddings [B, D] (unit norm)."""
        if isinstance(texts, str):
            texts = [texts]
        tokens = self.data_preprocessor.tokenize(list(texts))
        return F.normalize(self.extract_text_feat(tokens)['global'], dim=-1)

    # -- evaluation -----------------------------------------------------
    def predict(self, inputs: dict,
                data_samples: List[TBPSDataSample]) -> List[TBPSDataSample]:
        """Attach ``image_feat`` to gallery samples and ``text_feat`` to
        query samples ([D] each, unit norm)."""
        feats = self.extract_feat(inputs)
        for key, index in (('image', inputs['image_index']),
                           ('text', inputs['text_index'])):
            values = feats[f'{key}_feats']
            if values is None:
                continue
            for row, i in enumerate(index.tolist()):
                data_samples[i].set_field(values[row], f'{key}_feat')
        return data_samples

    @staticmethod
    def check_pairs(inputs: dict):
        """Training needs every sample to hold an image and a caption."""
        if (inputs.get('images') is None or inputs.get('text') is None
                or not torch.equal(inputs['image_index'],
                                   inputs['text_index'])):
            raise ValueError('Training batches must hold image-caption pairs '
                             "(dataset split 'train').")

    @staticmethod
    def pids_of(data_samples, device=None) -> torch.Tensor:
        return stack_pids(data_samples, device)
