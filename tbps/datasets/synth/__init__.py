"""SynthPEDES: an embedded synthetic text-based person search dataset.

Identities are assignments of visible attributes (:mod:`.attributes`),
rendered as pedestrian-like figures (:mod:`.render`) and described by a
caption grammar (:mod:`.captions`); :func:`make_synth_pedes` writes them in
CUHK-PEDES layout, and :func:`make_synth_mals` a MALS-format pre-training
corpus of other people. ``VOCAB_FILE`` is a WordPiece vocabulary covering every
word the grammar can emit (regenerate it with
``python -m tbps.datasets.synth.captions --write-vocab``).

The generator and grammar are imported on first access, so running the
``captions`` module as a script does not import it twice.
"""
import importlib
import os.path as osp

from .attributes import FACTORS, MALS_ATTRIBUTES

VOCAB_FILE = osp.join(osp.dirname(osp.abspath(__file__)), 'vocab.txt')

_LAZY = dict(make_synth_pedes='generate', GENERATOR_VERSION='generate',
             make_synth_mals='mals_corpus',
             grammar_vocabulary='captions', make_caption='captions')

__all__ = ['make_synth_pedes', 'make_synth_mals', 'VOCAB_FILE', 'MALS_ATTRIBUTES', 'FACTORS',
           'grammar_vocabulary', 'make_caption', 'GENERATOR_VERSION']


def __getattr__(name):
    if name in _LAZY:
        module = importlib.import_module(f'.{_LAZY[name]}', __name__)
        return getattr(module, name)
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
