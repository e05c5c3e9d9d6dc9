"""Stop training at the first non-finite loss."""
import math

from mmengine.hooks import Hook

from tbps.registry import HOOKS


@HOOKS.register_module()
class FiniteLossHook(Hook):
    """After every training iteration, check the logged losses; on a NaN or
    infinite one, stop with an error that names the iteration, the loss
    terms and the last checkpoint saved (to resume from). The losses are
    already synchronised to the host for logging, so the check costs
    nothing extra."""

    priority = 'HIGH'

    def after_train_iter(self, runner, batch_idx: int, data_batch=None,
                         outputs=None) -> None:
        if not outputs:
            return
        bad = {}
        for key, value in outputs.items():
            if 'loss' not in key:
                continue
            value = float(value.detach() if hasattr(value, 'detach')
                          else value)
            if not math.isfinite(value):
                bad[key] = value
        if not bad:
            return
        last = runner.message_hub.get_info('last_ckpt')
        terms = ', '.join(f'{k}={v}' for k, v in bad.items())
        raise FloatingPointError(
            f'Non-finite loss at iteration {runner.iter + 1} (epoch '
            f'{runner.epoch + 1}, batch {batch_idx + 1}): {terms}. Last '
            'checkpoint: ' + (f'{last} (resume with --resume {last} after '
                              'lowering the learning rate or checking the '
                              'data)' if last else 'none saved yet') + '.')
