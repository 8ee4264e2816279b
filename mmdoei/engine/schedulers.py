"""Learning-rate schedules mmengine lacks, registered in mmengine's root
``PARAM_SCHEDULERS`` so that every scope (mmpretrain's, mmseg's) finds them."""
from types import SimpleNamespace
from typing import List, Optional

from mmengine.optim.scheduler.lr_scheduler import LRSchedulerMixin
from mmengine.optim.scheduler.param_scheduler import INF, _ParamScheduler
from mmengine.registry import PARAM_SCHEDULERS
from timm.scheduler import CosineLRScheduler


@PARAM_SCHEDULERS.register_module()
class TimmCosineLR(LRSchedulerMixin, _ParamScheduler):
    """timm's ``CosineLRScheduler`` as a DeiT-style loop runs it: built before
    epoch 0, ``step(e)`` called after epoch ``e``. So epoch 0 trains at what the
    constructor sets (``warmup_lr_init``) and epoch ``e >= 1`` at timm's value for
    ``t = e - 1``; mmengine steps once an epoch, and this gives each epoch that rate.

    mmengine's ``LinearLR`` + ``CosineAnnealingLR`` cannot express it:
    ``LinearLR`` starts at a fraction of the lr, so its start moves with
    ``auto_scale_lr`` where ``warmup_lr_init`` is absolute; and
    ``CosineAnnealingLR`` starts at its peak at ``begin``, where timm's cosine
    spans all ``t_initial`` steps with the first ``warmup_t`` replaced by the
    warm-up, and the loop trains one step behind: the peak itself is never
    trained at (for 60 epochs, epoch 6 is the highest, 0.986 of a 6.25e-5 peak).

    The values are timm's own: a ``CosineLRScheduler`` on stand-in param groups
    whose lr is each group's ``initial_lr``, i.e. the lr after the Runner's
    ``scale_lr`` (mmengine scales before it builds the schedulers), as the authors
    scale the lr before they build theirs. ``lr_min`` and ``warmup_lr_init``
    stay absolute.

    Args:
        optimizer: the wrapped optimizer.
        t_initial: length of the cosine in steps, warm-up included. None: the
            scheduler's span ``end - begin``, which the Runner sets to
            ``train_cfg.max_epochs``, as the authors' ``--epochs`` sets both.
        lr_min: the cosine's floor.
        warmup_t: steps of linear warm-up.
        warmup_lr_init: where the warm-up starts.
        begin, end, last_step, by_epoch, verbose: as in mmengine's schedulers.
    """

    def __init__(self, optimizer, t_initial: Optional[int] = None, lr_min: float = 0., warmup_t: int = 0,
                 warmup_lr_init: float = 0., begin: int = 0, end: int = INF, last_step: int = -1,
                 by_epoch: bool = True, verbose: bool = False) -> None:
        if t_initial is None and end == INF:
            raise ValueError('TimmCosineLR: give t_initial or end (the Runner sets end to max_epochs)')
        self.timm_args = dict(t_initial=t_initial or end - begin, lr_min=lr_min, warmup_t=warmup_t,
                              warmup_lr_init=warmup_lr_init)
        super().__init__(optimizer, begin=begin, end=end, last_step=last_step, by_epoch=by_epoch, verbose=verbose)

    def _get_value(self) -> List[float]:
        groups = [{'lr': base} for base in self.base_values]
        timm_scheduler = CosineLRScheduler(SimpleNamespace(param_groups=groups), **self.timm_args)
        if self.last_step > 0:  # the loop's step(e - 1), after epoch e - 1
            timm_scheduler.step(self.last_step - 1)
        return [group['lr'] for group in groups]
