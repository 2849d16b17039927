"""Hand the training iteration to the model through the data samples."""
from typing import Optional

from mmengine.hooks import Hook
from mmpretrain.registry import HOOKS


@HOOKS.register_module()
class SampleIterationHook(Hook):
    """Write ``runner.iter`` into each data sample's metainfo
    (``iteration``) before the training step.

    :class:`~semaim_mm.models.SemAIM` seeds each image's order noise by
    (seed, ``iteration``, ``sample_idx``): the step reads both from its
    inputs, so it stays a function of them (callable without a Runner). A
    resumed run
    continues from the saved ``runner.iter``, so its orders are the
    uninterrupted run's. Batches without data samples pass unchanged.
    """
    priority = 'NORMAL'

    def before_train_iter(self, runner, batch_idx: int,
                          data_batch: Optional[dict] = None) -> None:
        samples = (data_batch or {}).get('data_samples') or []
        for sample in samples:
            sample.set_metainfo(dict(iteration=runner.iter))
