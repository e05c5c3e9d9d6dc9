"""Import every tbps module so its components register."""
import datetime
import warnings

from mmengine import DefaultScope

from .checkpoint import register_safe_globals


def register_all_modules(init_default_scope: bool = True) -> None:
    """Register all tbps components and optionally set scope ``tbps``."""
    import tbps.datasets  # noqa: F401
    import tbps.engine  # noqa: F401
    import tbps.evaluation  # noqa: F401
    import tbps.models  # noqa: F401
    import tbps.visualization  # noqa: F401
    register_safe_globals()
    if not init_default_scope:
        return
    never_created = (DefaultScope.get_current_instance() is None
                     or not DefaultScope.check_instance_created('tbps'))
    if never_created:
        DefaultScope.get_instance('tbps', scope_name='tbps')
        return
    current = DefaultScope.get_current_instance()
    if current.scope_name != 'tbps':
        warnings.warn('The current default scope '
                      f'"{current.scope_name}" is not "tbps"; '
                      '`register_all_modules` will force it to "tbps".')
        new_name = f'tbps-{datetime.datetime.now()}'
        DefaultScope.get_instance(new_name, scope_name='tbps')
