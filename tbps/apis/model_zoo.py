"""The model zoo: models by name from ``model-index.yml`` (OpenMMLab's
model-index format, one ``configs/<method>/metafile.yml`` per method).

An entry names its ``Config``, its ``Weights`` (a URL, or none where the
authors publish only a file-sharing page, given as ``Download Page``, or
where the weights are trained on this machine: ``Local Weights``, the
checkpoint that ``Train Command`` writes, relative to the clone root), an
optional ``SHA256`` (else the one the URL declares), the ``Converter`` a
foreign format needs (applied by :func:`init_model` on the fly) and the
``Results`` with ``Results From`` saying where they come from.
"""
import copy
import difflib
import fnmatch
import os
import os.path as osp
from typing import List, Optional, Union

from .inference import init_model

_MODELS = None


def model_index_path() -> str:
    """``$TBPS_MODEL_INDEX`` or the ``model-index.yml`` of the tbps clone
    this package runs from (``pip install -e .``)."""
    path = os.environ.get('TBPS_MODEL_INDEX')
    if path:
        return path
    import tbps
    return osp.join(osp.dirname(osp.dirname(osp.abspath(tbps.__file__))),
                    'model-index.yml')


def index_root() -> str:
    """The folder of the model index, against which its relative paths
    (``Config``, ``Local Weights``) are resolved."""
    return osp.dirname(osp.abspath(model_index_path()))


def _models() -> dict:
    global _MODELS
    if _MODELS is None:
        from modelindex.load_model_index import load
        path = model_index_path()
        if not osp.isfile(path):
            raise FileNotFoundError(
                f'No model index at {path}: install tbps from a clone '
                '(pip install -e .) or set TBPS_MODEL_INDEX to its '
                'model-index.yml.')
        index = load(path)
        index.build_models_with_collections()
        root = index_root()
        models = {}
        for model in index.models:
            name = model.name.lower()
            if name in models:
                raise ValueError(f'Model name {model.name!r} appears twice '
                                 f'in {path}.')
            if model.config and not osp.isabs(model.config):
                model.config = osp.join(root, model.config)
            models[name] = model
        _MODELS = models
    return _MODELS


def list_models(pattern: Optional[str] = None) -> List[str]:
    """Sorted names of the zoo's models, filtered by a glob ``pattern``
    (e.g. ``'albef*'``, ``'*cuhk*'``)."""
    names = sorted(_models())
    if pattern:
        names = fnmatch.filter(names, pattern.lower())
    return names


def model_info(name: str):
    """The metafile entry of ``name`` (a ``modelindex`` Model: ``.config``,
    ``.weights``, ``.results``, ``.data`` for the other fields)."""
    models = _models()
    if name.lower() not in models:
        close = difflib.get_close_matches(name.lower(), list(models), n=5,
                                          cutoff=0.5)
        raise KeyError(f'No model {name!r} in the zoo'
                       + (f'; did you mean {close}?' if close else '.')
                       + ' tbps.apis.list_models() lists them.')
    return copy.deepcopy(models[name.lower()])


def weights_of(name: str) -> str:
    """The weights URL (or local checkpoint) of a zoo entry; raises with
    instructions where the authors publish only a download page or where
    the weights are trained locally and not there yet."""
    info = model_info(name)
    if info.weights:
        return info.weights
    local = info.data.get('Local Weights')
    if local:
        root = index_root()
        path = local if osp.isabs(local) else osp.join(root, local)
        if osp.isfile(path):
            return path
        raise FileNotFoundError(
            f'{name} is trained locally (tbps hosts no file) and {path} '
            f'does not exist yet. In {root}, run\n'
            f'    {info.data.get("Train Command")}\n'
            f"or pass a checkpoint: get_model('{name}', "
            "pretrained='path/to/epoch_N.pth').")
    page = info.data.get('Download Page')
    if page:
        raise FileNotFoundError(
            f'{name}: the authors publish these weights only on a '
            f'file-sharing page without a direct URL. Download them from '
            f'{page}, unpack the archive and pass the checkpoint file: '
            f"get_model('{name}', pretrained='path/to/best.pth') or "
            f"init_model('{info.config}', 'path/to/best.pth').")
    raise FileNotFoundError(f'{name} has no released weights.')


def get_model(name: str, pretrained: Union[bool, str] = False,
              device: str = 'cpu', cfg_options: Optional[dict] = None):
    """Build a zoo model from its config.

    Args:
        name (str): A name from :func:`list_models`.
        pretrained (bool | str): ``True``: the entry's weights (downloaded,
            hash-checked, converted if foreign); a path or URL: those
            weights; ``False``: the config's initialisation.
        device (str): Where the model goes.
        cfg_options (dict, optional): Config overrides (``--cfg-options``).
    """
    info = model_info(name)
    if not info.config:
        raise ValueError(
            f'{name} is initialisation weights without a tbps config (used '
            f'by a method not in tbps yet); its file: {info.weights}.')
    checkpoint = None
    if pretrained is True:
        checkpoint = weights_of(name)
    elif pretrained:
        checkpoint = str(pretrained)
    sha256 = info.data.get('SHA256') if pretrained is True else None
    return init_model(info.config, checkpoint, device=device, sha256=sha256,
                      cfg_options=cfg_options)
