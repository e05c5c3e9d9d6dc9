"""CLIP byte-pair-encoding tokenisation (open_clip's vocabulary)."""
from typing import Dict, List, Sequence

import torch

from tbps.registry import TOKENIZERS


@TOKENIZERS.register_module()
class CLIPTokenizer:
    """OpenAI CLIP BPE: ``<start> tokens <end>``, at most ``context_length``
    tokens (77 in CLIP), padded with 0 to the longest caption of the batch.
    The text encoder pools at the end token, the largest id in a row.

    A ``<|mask|>`` token for masked language modelling is not part of CLIP's
    49408-token vocabulary. :attr:`mask_token_id` is 49405, as in IRRA
    (``utils/simple_tokenizer.py``): IRRA builds OpenAI's vocabulary, pops
    its last merge entry (``jekyll</w>``, id 49405) and appends
    ``<|mask|>``, ``<|startoftext|>``, ``<|endoftext|>`` as 49405-49407, so
    the mask token reuses that row of the pretrained token embedding and
    the size stays 49408. IRRA masks only ids in (0, 49405) and draws random
    replacements from [1, 49405). This BPE (open_clip's) still maps the
    word "jekyll" to 49405.
    """

    MASK_TOKEN_ID = 49405

    def __init__(self, context_length: int = 77):
        from open_clip.tokenizer import SimpleTokenizer
        self.context_length = context_length
        self.bpe = SimpleTokenizer(context_length=context_length)

    def __call__(self, texts: Sequence[str]) -> Dict[str, torch.Tensor]:
        if isinstance(texts, str):
            texts = [texts]
        sot, eot = self.cls_token_id, self.sep_token_id
        rows = []
        for text in texts:
            ids = self.bpe.encode(text)[:self.context_length - 2]
            rows.append([sot] + ids + [eot])
        length = max(len(r) for r in rows)
        input_ids = torch.zeros(len(rows), length, dtype=torch.long)
        for i, r in enumerate(rows):
            input_ids[i, :len(r)] = torch.tensor(r)
        attention_mask = (torch.arange(length)[None] <
                          torch.tensor([len(r) for r in rows])[:, None])
        return dict(input_ids=input_ids, attention_mask=attention_mask.long())

    @property
    def vocab_size(self) -> int:
        return len(self.bpe.encoder)

    @property
    def vocabulary(self) -> List[str]:
        """The BPE tokens in id order."""
        return [self.bpe.decoder[i] for i in range(len(self.bpe.encoder))]

    @property
    def pad_token_id(self) -> int:
        return 0

    @property
    def mask_token_id(self) -> int:
        return self.MASK_TOKEN_ID

    @property
    def cls_token_id(self) -> int:
        return self.bpe.sot_token_id

    @property
    def sep_token_id(self) -> int:
        return self.bpe.eot_token_id

    @property
    def special_token_ids(self) -> List[int]:
        return [0, self.cls_token_id, self.sep_token_id]

    def decode(self, ids) -> str:
        ids = [int(i) for i in ids if int(i) not in self.special_token_ids]
        return self.bpe.decode(ids)
