"""Forget the identities in momentum queues loaded with pre-trained
weights."""
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from tbps.registry import HOOKS


@HOOKS.register_module()
class ResetQueuesHook(Hook):
    """Before the first training iteration of a run that is not resumed,
    mark every queue slot of the model's losses (modules with
    ``pid_queue`` / ``queue_ptr`` buffers: ``MomentumITCLoss``,
    ``CrossModalMoCoLoss``) as unwritten and restart their pointers.

    Fine-tuning from a pre-training checkpoint (``load_from``) loads its
    queues too; their identities are numbers of the pre-training data, which
    would match the fine-tuning identities by chance and turn unrelated
    entries into positives. The stored features stay as negatives until
    overwritten (as ALBEF's fine-tuning keeps its pre-trained queues).
    A resumed run keeps its queues.
    """

    priority = 'LOW'

    def before_train(self, runner) -> None:
        if runner.iter > 0:  # resumed
            return
        model = runner.model.module if is_model_wrapper(runner.model) \
            else runner.model
        reset = 0
        for module in model.modules():
            pids = getattr(module, 'pid_queue', None)
            ptr = getattr(module, 'queue_ptr', None)
            if pids is None or ptr is None:
                continue
            pids.fill_(-1)
            ptr.zero_()
            reset += 1
        runner.logger.info(f'ResetQueuesHook: reset {reset} queue(s).')
