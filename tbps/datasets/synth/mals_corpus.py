"""A MALS-like synthetic pre-training corpus: SynthPEDES-style people, one
caption and 27 attribute labels per image, in MALS's json format, with
identities disjoint from a SynthPEDES dataset's.

Output of :func:`make_synth_mals` (``out_dir``)::

    gene_attrs/synth_mals.json  list of {"image", "caption", "image_id",
                                "label"} (what the ``MALS`` dataset reads)
    gene_crop/synth/<pid>_<view>.jpg
    identities.json             the factors of every identity
    meta.json                   arguments, the excluded SynthPEDES and
                                statistics

As in MALS, every image has its own ``image_id`` (each image is its own
identity for the MALS reader). "Disjoint" is measured on the factors a
caption can describe: every corpus identity differs from every identity of
the excluded SynthPEDES (all splits) and from every other corpus identity
in at least two of them, so no SynthPEDES person, nor a near duplicate of
one, is seen in pre-training.
"""
import os
import os.path as osp
import shutil
import tempfile
from typing import Dict, List, Optional, Tuple

import numpy as np

from .attributes import DESCRIBED_FACTORS, sample_identity
from .generate import (_dump_lines, _encode, _finish, _render_all,
                       sample_identities)

_STREAM_MALS = 3
#: pids of the corpus start here (SynthPEDES uses 1..N)
PID_OFFSET = 1_000_001
#: The SynthPEDES whose identities are excluded by default: the one the
#: ``*_synth`` configs generate (seed 0, 500/100/100 identities).
SYNTH_PEDES_DEFAULT = dict(seed=0, num_train_ids=500, num_val_ids=100,
                           num_test_ids=100, near_duplicate_share=0.35)


def sample_disjoint_identities(seed: int, num_ids: int,
                               exclude: np.ndarray,
                               min_distance: int = 2) -> List[Dict]:
    """``num_ids`` identities (RNG streams ``(seed, 3, index)``) whose
    describable factors differ in at least ``min_distance`` places from
    every row of ``exclude`` [E, F] and from each other."""
    codes = np.asarray(exclude, dtype=np.int16).reshape(
        -1, len(DESCRIBED_FACTORS))
    out = []
    for index in range(num_ids):
        rng = np.random.default_rng([seed, _STREAM_MALS, index])
        for _ in range(1000):
            ident = sample_identity(rng)
            code = _encode(ident)
            if not len(codes) or \
                    (codes != code).sum(1).min() >= min_distance:
                break
        else:
            raise RuntimeError(
                f'make_synth_mals: cannot draw {num_ids} identities disjoint '
                f'from the {len(exclude)} excluded ones; ask for fewer.')
        out.append(dict(pid=PID_OFFSET + index, split='synth', factors=ident,
                        near_duplicate_of=None, differs_in=None))
        codes = np.concatenate([codes, code[None]])
    return out


def synth_pedes_codes(synth_pedes: dict) -> np.ndarray:
    """Describable-factor codes [N, F] of every identity of a SynthPEDES
    (its ``make_synth_pedes`` arguments)."""
    counts = dict(train=synth_pedes['num_train_ids'],
                  val=synth_pedes['num_val_ids'],
                  test=synth_pedes['num_test_ids'])
    identities = sample_identities(int(synth_pedes['seed']), counts,
                                   float(synth_pedes['near_duplicate_share']))
    return np.stack([_encode(i['factors']) for i in identities])


def make_synth_mals(out_dir: str, seed: int = 0, num_ids: int = 2000,
                    views_per_id: int = 2,
                    image_size: Tuple[int, int] = (128, 64),
                    exclude_synth_pedes: Optional[dict] = None,
                    num_workers: Optional[int] = None,
                    image_format: str = 'jpg',
                    overwrite: bool = False) -> str:
    """Generate the corpus into ``out_dir`` (built in a temporary sibling
    folder and renamed into place); returns ``out_dir``.

    Args:
        seed (int): Random seed; same arguments give identical files.
        num_ids (int): People in the corpus.
        views_per_id (int): Images per person (each one caption).
        image_size (tuple): ``(height, width)``.
        exclude_synth_pedes (dict, optional): ``make_synth_pedes`` arguments
            (seed, identity counts, near-duplicate share) of the SynthPEDES
            to stay disjoint from; default :data:`SYNTH_PEDES_DEFAULT`.
    """
    if num_ids < 1 or views_per_id < 1:
        raise ValueError('num_ids and views_per_id must be >= 1.')
    if image_format not in ('jpg', 'png'):
        raise ValueError(f"image_format must be 'jpg' or 'png', got "
                         f'{image_format!r}.')
    exclude = dict(SYNTH_PEDES_DEFAULT, **(exclude_synth_pedes or {}))
    out_dir = osp.abspath(out_dir)
    if osp.exists(out_dir) and os.listdir(out_dir) and not overwrite:
        raise FileExistsError(
            f'make_synth_mals: {out_dir!r} exists and is not empty; pass '
            'overwrite=True (--overwrite) to replace it.')
    image_size = (int(image_size[0]), int(image_size[1]))
    cfg = dict(preset='mals', seed=int(seed), num_ids=int(num_ids),
               views_per_id=int(views_per_id), image_size=list(image_size),
               image_format=image_format, exclude_synth_pedes=exclude)
    parent = osp.dirname(out_dir)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f'.{osp.basename(out_dir)}.tmp-',
                           dir=parent)
    try:
        identities = sample_disjoint_identities(
            int(seed), int(num_ids), synth_pedes_codes(exclude))
        img_root = osp.join(tmp, 'gene_crop')
        os.makedirs(osp.join(img_root, 'synth'))
        # the SynthPEDES renderer: one caption a view; its image/caption
        # streams are keyed by (seed, PID_OFFSET + index, view)
        tasks = [(PID_OFFSET + i, rec, int(seed), int(views_per_id), 1,
                  image_size, img_root, image_format)
                 for i, rec in enumerate(identities)]
        records = []
        for rec in _render_all(tasks, num_workers):
            stem = osp.splitext(osp.basename(rec['file_path']))[0]
            records.append(dict(image=f"gene_crop/{rec['file_path']}",
                                caption=rec['captions'][0],
                                image_id=f'synth_{stem}',
                                label=rec['attributes']))
        os.makedirs(osp.join(tmp, 'gene_attrs'))
        _dump_lines(records, osp.join(tmp, 'gene_attrs', 'synth_mals.json'))
        _dump_lines(identities, osp.join(tmp, 'identities.json'))
        _finish(tmp, out_dir, 'tbps.datasets.synth.mals_corpus', seed, cfg,
                dict(ids=len(identities), images=len(records),
                     hidden_labels=sum(-1 in r['label'] for r in records)))
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir


__all__ = ['make_synth_mals', 'sample_disjoint_identities',
           'synth_pedes_codes', 'SYNTH_PEDES_DEFAULT', 'PID_OFFSET']
