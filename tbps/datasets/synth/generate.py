"""Write SynthPEDES to disk in CUHK-PEDES layout.

Output of :func:`make_synth_pedes` (``out_dir``)::

    reid_raw.json     list of {"split", "captions", "file_path",
                      "processed_tokens", "id", "attributes"}
    imgs/<split>/<pid>_<view>.jpg
    identities.json   the factors of every identity and its near-duplicate
    meta.json         generator version, arguments and statistics

Everything is a function of the arguments that affect the output (not of
``num_workers``): identities are drawn sequentially from RNGs seeded by
``(seed, index)``, and each image and its captions from an RNG seeded by
``(seed, index, view)``.
"""
import json
import os
import os.path as osp
import shutil
import tempfile
from collections import Counter
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from mmengine.utils import track_parallel_progress, track_progress

from .attributes import (DESCRIBED_FACTORS, FACTORS, MALS_ATTRIBUTES,
                         effective_identity, mals_labels, mutate_identity,
                         sample_identity)
from .captions import grammar_vocabulary, make_caption, processed_tokens
from .render import render_person

GENERATOR_VERSION = '1.1'  # 1.1: presence labels 0 = present (MALS/APTM)
LABEL_CONVENTION = (
    'MALS order; two-sided attributes a/b: 0 = a, 1 = b (gender 1 = man, '
    'age 1 = older than 18, hair 1 = long, sleeve 1 = short, lower length '
    '1 = short, lower type 1 = pants/shorts); presence attributes (hat, '
    'bags, colours; prompt pairs "with X" / "without X"): 0 = present, '
    '1 = absent; -1 = not visible in that image.')
_STREAM_IDENTITY, _STREAM_IMAGE, _STREAM_CAPTION = 0, 1, 2


def _encode(ident: Dict) -> np.ndarray:
    """Integer code of the caption-describable factors (None -> -1)."""
    eff = effective_identity(ident)
    return np.array([-1 if eff[k] is None else FACTORS[k].index(eff[k])
                     for k in DESCRIBED_FACTORS], dtype=np.int16)


def sample_identities(seed: int, counts: Dict[str, int],
                      near_duplicate_share: float) -> List[Dict]:
    """Identities of all splits, pids ``1..N`` in split order.

    In each split, the first ``2 * round(n * share / 2)`` identities form
    near-duplicate pairs (a base and a copy with one factor changed); any
    other two identities of a split differ in at least two
    caption-describable factors.
    """
    out = []
    index = 0
    for split, n in counts.items():
        n_pairs = min(n // 2, int(round(n * near_duplicate_share / 2)))
        codes = np.zeros((0, len(DESCRIBED_FACTORS)), np.int16)
        for k in range(n):
            rng = np.random.default_rng([seed, _STREAM_IDENTITY, index])
            is_partner = k < 2 * n_pairs and k % 2 == 1
            for _ in range(1000):
                if is_partner:
                    base = out[-1]
                    ident, changed = mutate_identity(base['factors'], rng)
                    others = codes[:-1]
                else:
                    ident, changed = sample_identity(rng), None
                    others = codes
                code = _encode(ident)
                if not len(others) or (others != code).sum(1).min() >= 2:
                    break
            else:
                raise RuntimeError(f'SynthPEDES: cannot draw {n} distinct '
                                   f'identities for split {split!r}.')
            rec = dict(pid=index + 1, split=split, factors=ident,
                       near_duplicate_of=None, differs_in=None)
            if is_partner:
                rec.update(near_duplicate_of=base['pid'], differs_in=changed)
                base.update(near_duplicate_of=rec['pid'], differs_in=changed)
            out.append(rec)
            codes = np.concatenate([codes, code[None]])
            index += 1
    return out


def _render_identity(task) -> List[Dict]:
    """Render, save and caption all views of one identity."""
    (index, ident_rec, seed, views, n_captions, image_size, img_root,
     image_format) = task
    ident, pid, split = ident_rec['factors'], ident_rec['pid'], \
        ident_rec['split']
    records = []
    for v in range(views):
        rng = np.random.default_rng([seed, _STREAM_IMAGE, index, v])
        img, info = render_person(ident, rng, image_size, index=v)
        rel = f'{split}/{pid:05d}_{v:02d}.{image_format}'
        path = osp.join(img_root, rel)
        if image_format == 'jpg':
            img.save(path, quality=92, subsampling=0)
        else:
            img.save(path)
        crng = np.random.default_rng([seed, _STREAM_CAPTION, index, v])
        captions = []
        for _ in range(n_captions):
            for _ in range(10):  # prefer distinct captions for one image
                cap = make_caption(ident, crng, info['hidden'])
                if cap not in captions:
                    break
            captions.append(cap)
        records.append(dict(
            split=split,
            captions=captions,
            file_path=rel,
            processed_tokens=[processed_tokens(c) for c in captions],
            id=pid,
            attributes=mals_labels(ident, info['hidden'])))
    return records


def _render_all(tasks: List[tuple], num_workers: Optional[int]
                ) -> List[Dict]:
    """:func:`_render_identity` of every task, records in task order
    (mmengine's progress-tracked, possibly parallel, map)."""
    workers = _num_workers(num_workers, len(tasks))
    if workers == 1:
        results = track_progress(_render_identity, tasks)
    else:
        results = track_parallel_progress(
            _render_identity, tasks, nproc=workers,
            chunksize=max(1, len(tasks) // (workers * 8)))
    return [r for rs in results for r in rs]


def _num_workers(num_workers: Optional[int], num_ids: int) -> int:
    if num_workers is None:
        try:
            cpus = len(os.sched_getaffinity(0))
        except AttributeError:  # not Linux
            cpus = os.cpu_count() or 1
        num_workers = min(cpus, 8) if num_ids >= 64 else 1
    return max(1, int(num_workers))


def _dump_lines(items: Sequence, path: str):
    """A JSON list with one item per line (deterministic bytes)."""
    with open(path, 'w', encoding='utf-8', newline='\n') as f:
        f.write('[\n' + ',\n'.join(json.dumps(x) for x in items) + '\n]\n')


def _statistics(records, identities) -> Dict:
    stats = {}
    for split in ('train', 'val', 'test'):
        recs = [r for r in records if r['split'] == split]
        ids = [i for i in identities if i['split'] == split]
        paired = [i for i in ids if i['near_duplicate_of'] is not None]
        stats[split] = dict(
            ids=len(ids), images=len(recs),
            captions=sum(len(r['captions']) for r in recs),
            near_duplicate_pairs=len(paired) // 2,
            near_duplicate_share=round(len(paired) / max(1, len(ids)), 4))
    stats['differs_in'] = dict(sorted(Counter(
        i['differs_in'] for i in identities
        if i['near_duplicate_of'] is not None
        and i['pid'] > i['near_duplicate_of']).items()))
    stats['vocab_size'] = len(grammar_vocabulary())
    stats['hidden_labels'] = sum(-1 in r['attributes'] for r in records)
    return stats


def make_synth_pedes(out_dir: str,
                     seed: int = 0,
                     num_train_ids: int = 500,
                     num_val_ids: int = 100,
                     num_test_ids: int = 100,
                     views_per_id: int = 4,
                     captions_per_image: int = 2,
                     image_size: Tuple[int, int] = (128, 64),
                     num_workers: Optional[int] = None,
                     near_duplicate_share: float = 0.35,
                     image_format: str = 'jpg',
                     overwrite: bool = False) -> str:
    """Generate SynthPEDES into ``out_dir`` and return ``out_dir``.

    The dataset is built in a hidden temporary sibling folder and renamed
    into place at the end, so an interrupted run leaves no folder that
    looks complete.

    Args:
        out_dir (str): Destination folder (must not hold a dataset unless
            ``overwrite``).
        seed (int): Random seed; same arguments give identical files.
        num_train_ids, num_val_ids, num_test_ids (int): Identities per
            split (identity-disjoint).
        views_per_id (int): Images per identity.
        captions_per_image (int): Captions per image.
        image_size (tuple[int, int]): ``(height, width)``.
        num_workers (int, optional): Rendering processes; default: the
            available CPUs (at most 8), 1 for tiny datasets. Does not
            change the output.
        near_duplicate_share (float): Share of identities in pairs that
            differ in exactly one factor.
        image_format (str): ``'jpg'`` or ``'png'``.
        overwrite (bool): Replace an existing dataset.
    """
    if image_format not in ('jpg', 'png'):
        raise ValueError(f"image_format must be 'jpg' or 'png', got "
                         f'{image_format!r}.')
    counts = dict(train=int(num_train_ids), val=int(num_val_ids),
                  test=int(num_test_ids))
    if min(counts.values()) < 0 or sum(counts.values()) == 0:
        raise ValueError(f'Invalid identity counts {counts}.')
    if views_per_id < 1 or captions_per_image < 1:
        raise ValueError('views_per_id and captions_per_image must be >= 1.')
    if not 0 <= near_duplicate_share <= 1:
        raise ValueError('near_duplicate_share must be in [0, 1].')
    image_size = (int(image_size[0]), int(image_size[1]))
    out_dir = osp.abspath(out_dir)
    if osp.exists(out_dir) and os.listdir(out_dir) and not overwrite:
        raise FileExistsError(
            f'make_synth_pedes: {out_dir!r} exists and is not empty; pass '
            'overwrite=True (--overwrite) to replace it.')
    cfg = dict(seed=int(seed), num_train_ids=counts['train'],
               num_val_ids=counts['val'], num_test_ids=counts['test'],
               views_per_id=int(views_per_id),
               captions_per_image=int(captions_per_image),
               image_size=list(image_size),
               near_duplicate_share=float(near_duplicate_share),
               image_format=image_format)

    parent = osp.dirname(out_dir)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f'.{osp.basename(out_dir)}.tmp-',
                           dir=parent)
    try:
        identities = sample_identities(int(seed), counts,
                                       near_duplicate_share)
        img_root = osp.join(tmp, 'imgs')
        for split in counts:
            os.makedirs(osp.join(img_root, split))
        tasks = [(i, rec, int(seed), int(views_per_id),
                  int(captions_per_image), image_size, img_root,
                  image_format) for i, rec in enumerate(identities)]
        records = _render_all(tasks, num_workers)
        _dump_lines(records, osp.join(tmp, 'reid_raw.json'))
        _dump_lines(identities, osp.join(tmp, 'identities.json'))
        _finish(tmp, out_dir, 'tbps.datasets.synth', seed, cfg,
                _statistics(records, identities))
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir


def _finish(tmp: str, out_dir: str, generator: str, seed: int, cfg: dict,
            stats: dict) -> None:
    """Write ``meta.json`` (generator, version, arguments, attribute
    names and label convention, statistics) and move ``tmp`` into place."""
    meta = dict(generator=generator, version=GENERATOR_VERSION,
                seed=int(seed), generate_cfg=cfg,
                attributes=list(MALS_ATTRIBUTES),
                label_convention=LABEL_CONVENTION, stats=stats)
    with open(osp.join(tmp, 'meta.json'), 'w', encoding='utf-8',
              newline='\n') as f:
        json.dump(meta, f, indent=2)
        f.write('\n')
    _move_into_place(tmp, out_dir)


def _move_into_place(tmp: str, out_dir: str):
    """Rename ``tmp`` to ``out_dir``, replacing what is there."""
    old = None
    if osp.lexists(out_dir):
        if osp.isdir(out_dir) and not os.listdir(out_dir):
            os.rmdir(out_dir)
        else:
            old = tempfile.mkdtemp(prefix=f'.{osp.basename(out_dir)}.old-',
                                   dir=osp.dirname(out_dir))
            os.rename(out_dir, osp.join(old, 'data'))
    os.rename(tmp, out_dir)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
