"""Registry errors that name the closest registered types.

mmengine reports an unknown ``type`` without saying what exists. The tbps
registries build through :func:`suggesting`, which lists the closest names
of the registry itself, its parent (mmengine's root) and the parent's other
children (e.g. mmpretrain's ``VisionTransformer``), with their scopes."""
import difflib
from typing import Callable, List


def registered_names(registry) -> List[str]:
    """``scope.Name`` of every type reachable from ``registry``: its own,
    its parents' and the parents' other children (imported ones)."""
    registry.import_from_location()
    names = [f'{registry.scope}.{n}' for n in registry.module_dict]
    parent = registry.parent
    while parent is not None:
        names += [f'{parent.scope}.{n}' for n in parent.module_dict]
        for scope, child in parent.children.items():
            if child is not registry:
                names += [f'{scope}.{n}' for n in child.module_dict]
        parent = parent.parent
    return sorted(set(names))


def unknown_type_message(registry, obj_type: str) -> str:
    names = registered_names(registry)
    bare = obj_type.split('.')[-1]
    by_bare = {}
    for name in names:
        by_bare.setdefault(name.split('.')[-1], []).append(name)
    close = difflib.get_close_matches(bare, list(by_bare), n=5, cutoff=0.6)
    lowered = [b for b in by_bare if b.lower() == bare.lower()]
    suggestions = [n for b in dict.fromkeys(lowered + close)
                   for n in sorted(by_bare[b], key=lambda n: not n.startswith(
                       registry.scope + '.'))]
    own = sorted(n.split('.', 1)[1] for n in names
                 if n.startswith(registry.scope + '.'))
    message = (f'Unknown {registry.name} type {obj_type!r} (registry '
               f'{registry.scope}::{registry.name}).')
    if suggestions:
        message += f' Did you mean {", ".join(suggestions)}?'
    message += (' A type from another package is written with its scope '
                "(e.g. 'mmpretrain.VisionTransformer') and needs "
                'custom_imports for third-party packages. '
                f'tbps {registry.name} types: {", ".join(own)}.')
    return message


def suggesting(build_func: Callable) -> Callable:
    """``build_func`` whose unknown-type error names the closest types."""

    def build(cfg, registry, *args, **kwargs):
        try:
            return build_func(cfg, registry, *args, **kwargs)
        except KeyError as err:
            obj_type = cfg.get('type') if hasattr(cfg, 'get') else None
            # only the error about this very type (not a nested one)
            if not isinstance(obj_type, str) or not str(err).strip(
                    '"\'').startswith(f'{obj_type} is not in the'):
                raise
            raise KeyError(unknown_type_message(registry, obj_type)) \
                from None

    return build
