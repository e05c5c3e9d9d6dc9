"""APTM's attribute prompt learning: the 27 MALS attributes as 27 pairs of
sentences, matched against the images by the caption heads' own layers."""
from typing import Dict, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from tbps.datasets.synth.attributes import MALS_PROMPTS
from tbps.registry import MODELS


#: APTM's 54 prompt sentences in the authors' order (attribute ``i`` of
#: MALS's 27 owns sentences ``2i`` and ``2i + 1``; its label ``v`` says
#: which is true): :data:`tbps.datasets.synth.attributes.MALS_PROMPTS`.
APTM_ATTRIBUTE_PROMPTS = MALS_PROMPTS

LOSSES = ('itc', 'itm', 'mlm')


def sentence_targets(labels: torch.Tensor) -> torch.Tensor:
    """Attribute labels [B, A] in {0, 1, -1} -> whether each of the 2A
    sentences is true of each image [B, 2A]: sentence ``2i`` gets
    ``1 - v``, sentence ``2i + 1`` gets ``v``; -1 (unknown) stays -1."""
    first = torch.where(labels < 0, labels, 1 - labels)
    return torch.stack([first, labels], dim=2).flatten(1)


def mean_per_group(losses: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """[B, G] per-element losses -> sum over groups of each group's mean
    over its valid rows (a group with none adds 0), divided by G."""
    count = valid.sum(0)
    per_group = (losses * valid).sum(0) / count.clamp(min=1)
    return per_group.sum() / losses.shape[1]


@MODELS.register_module()
class AttributePromptHead(nn.Module):
    """APTM's attribute prompt losses (Yang et al., ACM MM 2023), on the
    layers of the caption heads (shared, as the authors share them):

    * ``loss_attr_itc``: for each attribute ``i``, a 2-way cross-entropy of
      each image's ITC feature against the pair's sentence features,
      ``CE(s(I, P_2i..2i+1) / tau, v_i)``, mean over the images whose label
      is known, then averaged over the attributes; ``tau`` is the ITC head's
      temperature.
    * ``loss_attr_itm``: ``itm_sentences`` sentences drawn each step, each
      fused with every image of the batch and classified by the ITM head
      (target: the sentence is true of the image), mean over the drawn
      sentences.
    * ``loss_attr_mlm``: every sentence masked by the MLM head's masker and
      reconstructed, fused with one in-batch image it is true of (drawn
      uniformly; sentences true of no image are skipped).

    APTM's pre-training total is ``itc + itm + mlm + 0.8 (a_itc + a_itm +
    a_mlm) / 3``: give this head ``loss_weights`` 0.8 / 3. Samples must
    carry ``attributes`` (MALS order, in {0, 1, -1}; the ``MALS`` and
    ``SynthMALS`` / ``SynthPEDES`` datasets do).

    Args:
        tokenizer: The retriever's tokenizer (filled).
        prompts (Sequence[str]): 2 sentences per attribute (default
            :data:`APTM_ATTRIBUTE_PROMPTS`).
        itc_head, itm_head, mlm_head (str): Names of the heads whose
            temperature, ITM classifier and masker / LM predictor are used.
        itm_sentences (int): Sentences drawn per step for the ITM loss (5).
        label_smoothing (float): On the ITC and ITM cross-entropies (APTM:
            0.4 in pre-training).
        losses (Sequence[str]): Which of ``'itc'``, ``'itm'``, ``'mlm'`` to
            compute (APTM without MLM: ``('itc', 'itm')``).
    """

    def __init__(self, tokenizer,
                 prompts: Sequence[str] = APTM_ATTRIBUTE_PROMPTS,
                 itc_head: str = 'itc', itm_head: str = 'itm',
                 mlm_head: str = 'mlm', itm_sentences: int = 5,
                 label_smoothing: float = 0.0,
                 losses: Sequence[str] = LOSSES):
        super().__init__()
        if len(prompts) % 2:
            raise ValueError(f'prompts must come in pairs (2 per attribute),'
                             f' got {len(prompts)} sentences.')
        unknown = set(losses) - set(LOSSES)
        if unknown or not losses:
            raise ValueError(f'losses must be a non-empty subset of {LOSSES},'
                             f' got {tuple(losses)}.')
        if not 1 <= itm_sentences <= len(prompts):
            raise ValueError(f'itm_sentences must be in [1, {len(prompts)}],'
                             f' got {itm_sentences}.')
        self.prompts = tuple(prompts)
        self.num_attributes = len(prompts) // 2
        self.itc_head, self.itm_head, self.mlm_head = (itc_head, itm_head,
                                                       mlm_head)
        self.itm_sentences = itm_sentences
        self.label_smoothing = label_smoothing
        self.losses = tuple(losses)
        prompt_text = tokenizer(list(self.prompts))
        self.register_buffer('prompt_ids', prompt_text['input_ids'],
                             persistent=False)
        self.register_buffer('prompt_mask', prompt_text['attention_mask'],
                             persistent=False)

    def labels(self, batch) -> torch.Tensor:
        """LongTensor [B, A] of the samples' attribute labels."""
        rows = []
        for i, sample in enumerate(batch.data_samples):
            if 'attributes' not in sample:
                raise KeyError(
                    f'AttributePromptHead: sample {i} ('
                    f'{sample.get("img_path", "?")}) has no attributes; '
                    'train on a dataset with attribute labels (MALS, '
                    'SynthMALS, SynthPEDES).')
            rows.append(sample.attributes)
        labels = torch.stack(rows).to(batch.images.device)
        if labels.shape[1] != self.num_attributes:
            raise ValueError(f'AttributePromptHead has {self.num_attributes} '
                             f'prompt pairs but the samples carry '
                             f'{labels.shape[1]} attribute labels.')
        return labels

    def _head(self, batch, name):
        if name not in batch.heads:
            raise KeyError(f'AttributePromptHead reads the head {name!r}, '
                           f'which is not in the model\'s heads '
                           f'{list(batch.heads)}.')
        return batch.heads[name]

    def _ce(self, logits, target) -> torch.Tensor:
        """Per-row cross-entropy [N] (0 where target is -1)."""
        return F.cross_entropy(logits, target.clamp(min=0), reduction='none',
                               label_smoothing=self.label_smoothing) * (
                                   target >= 0)

    def loss(self, batch) -> Dict[str, torch.Tensor]:
        labels = self.labels(batch)
        targets = sentence_targets(labels)  # [B, 2A]
        prompts = dict(input_ids=self.prompt_ids,
                       attention_mask=self.prompt_mask)
        feats = batch.text_features(prompts)
        out = {}
        if 'itc' in self.losses:
            out['loss_attr_itc'] = self.itc_loss(batch, feats, labels)
        if 'itm' in self.losses:
            out['loss_attr_itm'] = self.itm_loss(batch, feats, targets)
        if 'mlm' in self.losses:
            out['loss_attr_mlm'] = self.mlm_loss(batch, prompts, targets)
        return out

    def itc_loss(self, batch, feats, labels) -> torch.Tensor:
        """Per attribute: 2-way CE of image ITC features against the pair's
        sentence features / tau; mean over known labels, then attributes."""
        temperature = self._head(batch, self.itc_head).temperature
        sentences = F.normalize(feats['global'], dim=-1)
        logits = batch.image_embed @ sentences.t() / temperature  # [B, 2A]
        logits = logits.view(len(logits), self.num_attributes, 2)
        per = self._ce(logits.flatten(0, 1), labels.flatten())
        return mean_per_group(per.view_as(labels), labels >= 0)

    def itm_loss(self, batch, feats, targets) -> torch.Tensor:
        """``itm_sentences`` random sentences x every image through the
        fusion encoder and the ITM head; CE per sentence, then the mean."""
        itm = self._head(batch, self.itm_head)
        drawn = torch.randperm(len(self.prompts))[:self.itm_sentences].to(
            targets.device)
        num_images = batch.images.shape[0]
        image_tokens = batch.image_feat['tokens']
        tokens = feats['tokens'][drawn].repeat_interleave(num_images, 0)
        mask = feats['mask'][drawn].repeat_interleave(num_images, 0)
        fused = batch.fuse(tokens, mask,
                           image_tokens.repeat(len(drawn), 1, 1))[0][:, 0]
        target = targets[:, drawn].t()  # [S, B]
        per = self._ce(itm(fused), target.flatten()).view_as(target)
        return mean_per_group(per.t(), (target >= 0).t())

    def mlm_loss(self, batch, prompts, targets) -> torch.Tensor:
        """Each sentence masked, fused with one in-batch image it is true of
        and reconstructed by the MLM head's LM predictor."""
        mlm = self._head(batch, self.mlm_head)
        true_of = (targets > 0).t()  # [2A, B]
        keep = true_of.any(dim=1)
        if not keep.any():
            return batch.image_embed.sum() * 0.0
        image = torch.multinomial(true_of[keep].float(), 1).squeeze(1)
        masked = mlm.masker(dict(input_ids=prompts['input_ids'][keep],
                                 attention_mask=prompts['attention_mask'][
                                     keep]))
        _, tokens = batch.encode_text(masked['masked_ids'],
                                      masked['attention_mask'])
        fused, _ = batch.fuse(tokens, masked['attention_mask'],
                              batch.image_feat['tokens'][image])
        return mlm.loss_module(mlm(fused), masked['labels'])
