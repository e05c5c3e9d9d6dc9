"""tbps registries: children of mmengine's root registries, scope ``tbps``.

Every registry lists the sub-package that defines its members in
``locations`` so that building a module by name imports it lazily.
Third-party packages register into these registries and are imported via
``custom_imports`` in a config; no tbps edit is needed.
"""
from mmengine.registry import DATA_SAMPLERS as MMENGINE_DATA_SAMPLERS
from mmengine.registry import DATASETS as MMENGINE_DATASETS
from mmengine.registry import EVALUATOR as MMENGINE_EVALUATOR
from mmengine.registry import HOOKS as MMENGINE_HOOKS
from mmengine.registry import LOG_PROCESSORS as MMENGINE_LOG_PROCESSORS
from mmengine.registry import LOOPS as MMENGINE_LOOPS
from mmengine.registry import METRICS as MMENGINE_METRICS
from mmengine.registry import MODEL_WRAPPERS as MMENGINE_MODEL_WRAPPERS
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import \
    OPTIM_WRAPPER_CONSTRUCTORS as MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS
from mmengine.registry import OPTIM_WRAPPERS as MMENGINE_OPTIM_WRAPPERS
from mmengine.registry import OPTIMIZERS as MMENGINE_OPTIMIZERS
from mmengine.registry import PARAM_SCHEDULERS as MMENGINE_PARAM_SCHEDULERS
from mmengine.registry import RUNNERS as MMENGINE_RUNNERS
from mmengine.registry import TRANSFORMS as MMENGINE_TRANSFORMS
from mmengine.registry import VISBACKENDS as MMENGINE_VISBACKENDS
from mmengine.registry import VISUALIZERS as MMENGINE_VISUALIZERS
from mmengine.registry import WEIGHT_INITIALIZERS as MMENGINE_WEIGHT_INITIALIZERS
from mmengine.registry import Registry

from tbps.utils.registry_errors import suggesting

__all__ = [
    'RUNNERS', 'LOOPS', 'HOOKS', 'LOG_PROCESSORS', 'OPTIMIZERS',
    'OPTIM_WRAPPERS', 'OPTIM_WRAPPER_CONSTRUCTORS', 'PARAM_SCHEDULERS',
    'DATASETS', 'DATA_SAMPLERS', 'TRANSFORMS', 'MODELS', 'MODEL_WRAPPERS',
    'WEIGHT_INITIALIZERS', 'TOKENIZERS', 'METRICS', 'EVALUATOR',
    'VISUALIZERS', 'VISBACKENDS'
]

# Runtime
RUNNERS = Registry('runner', parent=MMENGINE_RUNNERS, scope='tbps',
                   locations=['tbps.engine'],
    build_func=suggesting(MMENGINE_RUNNERS.build_func))
LOOPS = Registry('loop', parent=MMENGINE_LOOPS, scope='tbps',
                 locations=['tbps.engine'],
    build_func=suggesting(MMENGINE_LOOPS.build_func))
HOOKS = Registry('hook', parent=MMENGINE_HOOKS, scope='tbps',
                 locations=['tbps.engine'],
    build_func=suggesting(MMENGINE_HOOKS.build_func))
LOG_PROCESSORS = Registry('log processor', parent=MMENGINE_LOG_PROCESSORS,
                          scope='tbps', locations=['tbps.engine'],
    build_func=suggesting(MMENGINE_LOG_PROCESSORS.build_func))
OPTIMIZERS = Registry('optimizer', parent=MMENGINE_OPTIMIZERS, scope='tbps',
                      locations=['tbps.engine'],
    build_func=suggesting(MMENGINE_OPTIMIZERS.build_func))
OPTIM_WRAPPERS = Registry('optim_wrapper', parent=MMENGINE_OPTIM_WRAPPERS,
                          scope='tbps', locations=['tbps.engine'],
    build_func=suggesting(MMENGINE_OPTIM_WRAPPERS.build_func))
OPTIM_WRAPPER_CONSTRUCTORS = Registry(
    'optimizer wrapper constructor',
    parent=MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS, scope='tbps',
    locations=['tbps.engine'],
    build_func=suggesting(MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS.build_func))
PARAM_SCHEDULERS = Registry('parameter scheduler',
                            parent=MMENGINE_PARAM_SCHEDULERS, scope='tbps',
                            locations=['tbps.engine'],
    build_func=suggesting(MMENGINE_PARAM_SCHEDULERS.build_func))

# Data
DATASETS = Registry('dataset', parent=MMENGINE_DATASETS, scope='tbps',
                    locations=['tbps.datasets'],
    build_func=suggesting(MMENGINE_DATASETS.build_func))
DATA_SAMPLERS = Registry('data sampler', parent=MMENGINE_DATA_SAMPLERS,
                         scope='tbps', locations=['tbps.datasets.samplers'],
    build_func=suggesting(MMENGINE_DATA_SAMPLERS.build_func))
TRANSFORMS = Registry('transform', parent=MMENGINE_TRANSFORMS, scope='tbps',
                      locations=['tbps.datasets.transforms'],
    build_func=suggesting(MMENGINE_TRANSFORMS.build_func))
TOKENIZERS = Registry('tokenizer', scope='tbps',
                      locations=['tbps.datasets.tokenizers'])

# Models: encoders, necks, heads, losses, maskers and retrievers.
MODELS = Registry('model', parent=MMENGINE_MODELS, scope='tbps',
                  locations=['tbps.models'],
    build_func=suggesting(MMENGINE_MODELS.build_func))
MODEL_WRAPPERS = Registry('model_wrapper', parent=MMENGINE_MODEL_WRAPPERS,
                          scope='tbps', locations=['tbps.models'],
    build_func=suggesting(MMENGINE_MODEL_WRAPPERS.build_func))
WEIGHT_INITIALIZERS = Registry('weight initializer',
                               parent=MMENGINE_WEIGHT_INITIALIZERS,
                               scope='tbps', locations=['tbps.models'],
    build_func=suggesting(MMENGINE_WEIGHT_INITIALIZERS.build_func))

# Evaluation
METRICS = Registry('metric', parent=MMENGINE_METRICS, scope='tbps',
                   locations=['tbps.evaluation'],
    build_func=suggesting(MMENGINE_METRICS.build_func))
EVALUATOR = Registry('evaluator', parent=MMENGINE_EVALUATOR, scope='tbps',
                     locations=['tbps.evaluation'],
    build_func=suggesting(MMENGINE_EVALUATOR.build_func))

# Visualisation
VISUALIZERS = Registry('visualizer', parent=MMENGINE_VISUALIZERS,
                       scope='tbps', locations=['tbps.visualization'],
    build_func=suggesting(MMENGINE_VISUALIZERS.build_func))
VISBACKENDS = Registry('vis_backend', parent=MMENGINE_VISBACKENDS,
                       scope='tbps', locations=['tbps.visualization'],
    build_func=suggesting(MMENGINE_VISBACKENDS.build_func))
