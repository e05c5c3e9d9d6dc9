"""SynthPEDES: the embedded synthetic dataset, generated on first use."""
import inspect
import json
import os.path as osp
import time
from typing import Optional

from filelock import FileLock
from mmengine.logging import print_log

from tbps.registry import DATASETS
from .cuhk_pedes import CUHKPEDES

#: generate_cfg keys that only change how fast the data is generated.
RUNTIME_KEYS = ('num_workers', )


def _generator_defaults() -> dict:
    from .synth.generate import make_synth_pedes
    params = inspect.signature(make_synth_pedes).parameters
    return {k: p.default for k, p in params.items()
            if k not in ('out_dir', 'overwrite')}


def _normalise(value):
    return list(value) if isinstance(value, tuple) else value


@DATASETS.register_module()
class SynthPEDES(CUHKPEDES):
    """The embedded synthetic dataset (CUHK-PEDES layout, MALS labels).

    If ``data_root/reid_raw.json`` is missing and ``generate`` is True,
    the data is generated there first (see
    :func:`tbps.datasets.synth.make_synth_pedes`). Concurrent processes
    (dataloader workers, distributed ranks) serialise on the lock file
    ``<data_root>.lock``: one generates, the others wait and then read.

    If the data exists, its ``meta.json`` must match ``seed`` and every key
    given in ``generate_cfg``; keys not given accept whatever was
    generated.

    Args:
        data_root (str): Dataset folder.
        seed (int): Generator seed.
        generate (bool): Generate the data when it is missing.
        generate_cfg (dict, optional): Other arguments of
            ``make_synth_pedes`` (``num_train_ids``, ``views_per_id``,
            ``image_size``, ..., and ``num_workers``, which is not checked).
        **kwargs: :class:`CUHKPEDES` / ``TextImageDataset`` arguments
            (``split``, ``pipeline``, ...).
    """

    METAINFO = dict(dataset_name='SynthPEDES')

    def __init__(self,
                 data_root: str = 'data/synth_pedes',
                 seed: int = 0,
                 generate: bool = True,
                 generate_cfg: Optional[dict] = None,
                 **kwargs):
        self.seed = seed
        self.generate_cfg = dict(generate_cfg or {})
        self._check_cfg_keys()
        self._ensure_data(data_root, generate)
        super().__init__(data_root=data_root, **kwargs)

    def _check_cfg_keys(self):
        defaults = _generator_defaults()
        unknown = set(self.generate_cfg) - set(defaults)
        if unknown:
            raise ValueError(
                f'SynthPEDES: unknown generate_cfg key(s) {sorted(unknown)};'
                f' valid keys: {sorted(k for k in defaults if k != "seed")}.')
        if 'seed' in self.generate_cfg and \
                self.generate_cfg['seed'] != self.seed:
            raise ValueError(
                f'SynthPEDES: seed={self.seed} but generate_cfg has '
                f'seed={self.generate_cfg["seed"]}; pass the seed once.')

    def _ensure_data(self, data_root: str, generate: bool):
        ensure_generated(
            'SynthPEDES', data_root, 'reid_raw.json', generate,
            lambda: make_synth_pedes_logged(data_root, dict(
                self.generate_cfg, seed=self.seed)),
            f'tools/dataset_converters/make_synth_pedes.py --out-dir '
            f'{data_root}')
        check_generated_meta('SynthPEDES', data_root, self.seed,
                             self.generate_cfg)


def make_synth_pedes_logged(data_root: str, cfg: dict):
    from .synth.generate import make_synth_pedes
    generate_logged('SynthPEDES', data_root, cfg, make_synth_pedes)


def generate_logged(name: str, data_root: str, cfg: dict, fn):
    """``fn(data_root, **cfg)`` with a log line before and after."""
    print_log(f'{name}: generating {data_root} ({cfg}) ...',
              logger='current')
    start = time.time()
    fn(data_root, **cfg)
    print_log(f'{name}: generated {data_root} in '
              f'{time.time() - start:.1f} s.', logger='current')


def ensure_generated(name: str, data_root: str, marker: str, generate: bool,
                     generate_fn, command: str) -> None:
    """Generate a synthetic dataset into ``data_root`` unless its
    ``marker`` file exists. Concurrent processes (dataloader workers,
    distributed ranks) serialise on ``<data_root>.lock``: one generates,
    the others wait and then read."""
    path = osp.join(data_root, marker)
    if osp.isfile(path):
        return
    if not generate:
        raise FileNotFoundError(
            f'{name}: {path!r} not found and generate=False. Run {command} '
            'or set generate=True.')
    with FileLock(osp.normpath(osp.abspath(data_root)) + '.lock'):
        if not osp.isfile(path):  # another process may have done it
            generate_fn()


def check_generated_meta(name: str, data_root: str, seed: int,
                         generate_cfg: dict) -> None:
    """The data's ``meta.json`` must match ``seed`` and every key given in
    ``generate_cfg`` (keys not given accept whatever was generated)."""
    meta_file = osp.join(data_root, 'meta.json')
    if not osp.isfile(meta_file):
        print_log(f'{name}: {meta_file} not found; cannot check the seed '
                  'and generate_cfg of the data.', logger='current')
        return
    with open(meta_file, encoding='utf-8') as f:
        meta = json.load(f)
    from .synth.generate import GENERATOR_VERSION
    if meta.get('version') != GENERATOR_VERSION:
        raise ValueError(
            f'{name}: {data_root} was generated by generator version '
            f'{meta.get("version")!r}; this tbps generates version '
            f'{GENERATOR_VERSION!r} (1.1 writes presence attribute labels '
            f'as MALS/APTM read them: 0 = present). Delete {data_root} to '
            'regenerate it (seconds), or use another data_root.')
    have = dict(meta.get('generate_cfg', {}), seed=meta.get('seed'))
    want = {k: v for k, v in generate_cfg.items() if k not in RUNTIME_KEYS}
    want['seed'] = seed
    diff = {k: (have.get(k), _normalise(v)) for k, v in want.items()
            if have.get(k) != _normalise(v)}
    if diff:
        lines = ', '.join(f'{k}: {a!r} in the file vs {b!r} requested'
                          for k, (a, b) in sorted(diff.items()))
        raise ValueError(
            f'{name}: {meta_file} does not match the requested settings '
            f'({lines}). Use another data_root, delete {data_root} to '
            f'regenerate it, or request its settings (file: '
            f'seed={have["seed"]!r}, generate_cfg='
            f'{meta.get("generate_cfg")!r}).')
