"""The synthetic MALS-like pre-training corpus, generated on first use."""
import inspect
from typing import Optional

from tbps.registry import DATASETS
from .mals import MALS
from .synth_pedes import (check_generated_meta, ensure_generated,
                          generate_logged)

ANN_FILE = 'gene_attrs/synth_mals.json'


@DATASETS.register_module()
class SynthMALS(MALS):
    """:class:`MALS` over the corpus of
    :func:`tbps.datasets.synth.make_synth_mals` (people disjoint from
    SynthPEDES's), generated into ``data_root`` when missing and
    ``generate`` is True; existing data must match ``seed`` and the keys
    given in ``generate_cfg`` (as :class:`SynthPEDES`).

    Args:
        data_root (str): Corpus folder.
        seed (int): Corpus seed.
        generate (bool): Generate the corpus when it is missing.
        generate_cfg (dict, optional): Other ``make_synth_mals`` arguments
            (``num_ids``, ``views_per_id``, ``image_size``,
            ``exclude_synth_pedes``, ``num_workers``).
        **kwargs: :class:`MALS` arguments (``pipeline``, ...).
    """

    METAINFO = dict(dataset_name='SynthMALS')

    def __init__(self, data_root: str = 'data/synth_mals', seed: int = 0,
                 generate: bool = True,
                 generate_cfg: Optional[dict] = None, **kwargs):
        from .synth.mals_corpus import make_synth_mals
        cfg = dict(generate_cfg or {})
        known = set(inspect.signature(make_synth_mals).parameters) - {
            'out_dir', 'overwrite', 'seed'}
        unknown = set(cfg) - known
        if unknown:
            raise ValueError(f'SynthMALS: unknown generate_cfg key(s) '
                             f'{sorted(unknown)}; valid keys: '
                             f'{sorted(known)}.')
        ensure_generated(
            'SynthMALS', data_root, ANN_FILE, generate,
            lambda: generate_logged('SynthMALS', data_root,
                                    dict(cfg, seed=seed), make_synth_mals),
            f'tools/dataset_converters/make_synth_pedes.py --preset mals '
            f'--out-dir {data_root}')
        check_generated_meta('SynthMALS', data_root, seed, cfg)
        kwargs.setdefault('ann_file', ANN_FILE)
        super().__init__(data_root=data_root, **kwargs)
