"""Run a config's model on a simulated CUDA device (no GPU needed).

``torch._subclasses.fake_tensor.FakeTensorMode`` gives every tensor created
inside it a shape, a dtype and a device but no storage: ops run their meta
kernels, so a ViT-B forward at a full per-GPU batch costs seconds and no
memory. A fake tensor may say ``device='cuda'`` on a machine without CUDA,
and an op that mixes a CUDA tensor with a (non-scalar) CPU tensor raises
``FakeTensorDeviceMismatchError``, as it would on a GPU.

How a config is run here, as the runner would on a GPU:

* the model is built with ``torch.device('cuda')`` as the default device
  (what ``model.to('cuda')`` gives; fake parameters cannot be moved with
  ``.to``), then the default device is left again, so a tensor the forward
  creates without ``device=`` lands on the CPU, as on a GPU run;
* the batch is made on the CPU (as a data loader's) and goes through the
  config's data preprocessor;
* the forward runs under the config's autocast (``AmpOptimWrapper``'s
  dtype). ``torch.autocast('cuda')`` refuses to switch on without CUDA, so
  its two availability checks are patched for the duration;
* ``Tensor.pin_memory`` (page-locked host memory, which fake tensors do not
  model) returns the tensor itself.

Not covered: ``init_weights`` (its logging reads parameter values),
backward (needs a CUDA context), mmcv's compiled ops (no fake kernels).
"""
import contextlib
from typing import Iterator, Optional
from unittest import mock

import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope
from torch._subclasses.fake_tensor import FakeTensorMode

DTYPES = dict(bfloat16=torch.bfloat16, float16=torch.float16)


def autocast_dtype(cfg: Config) -> Optional[torch.dtype]:
    """The autocast dtype of the config's optimizer wrapper (None: fp32)."""
    wrapper = cfg.get('optim_wrapper') or {}
    if wrapper.get('type') != 'AmpOptimWrapper':
        return None
    dtype = wrapper.get('dtype') or 'float16'
    return DTYPES[dtype] if isinstance(dtype, str) else dtype


@contextlib.contextmanager
def simulated_cuda(scope: str) -> Iterator[FakeTensorMode]:
    """Fake tensors, CUDA autocast allowed, ``scope``'s registries. Real
    tensors made before (a teacher's loaded weights) become fake ones when
    used; the device check holds for them too."""
    with DefaultScope.overwrite_default_scope(scope), \
            mock.patch('torch.cuda.amp.common.amp_definitely_not_available',
                       lambda: False), \
            mock.patch('torch.cuda.is_bf16_supported',
                       lambda *a, **k: True), \
            mock.patch.object(torch.Tensor, 'pin_memory',
                              lambda self, *a, **k: self), \
            FakeTensorMode(allow_non_fake_inputs=True) as mode:
        yield mode


def build_on_cuda(registry, model_cfg: dict) -> torch.nn.Module:
    """Build inside :func:`simulated_cuda`: parameters and buffers on cuda,
    the data preprocessor moving batches there."""
    with torch.device('cuda'):
        model = registry.build(model_cfg)
    model.data_preprocessor.to('cuda')
    return model


def move_to_cuda(model: torch.nn.Module) -> torch.nn.Module:
    """A module built for real on the CPU, moved as the runner moves it (its
    parameters become fake CUDA tensors): for a teacher, which reads its
    weight file while it is built."""
    return model.to('cuda')


def amp(cfg: Config):
    """The config's autocast on cuda (a no-op context for fp32 configs)."""
    dtype = autocast_dtype(cfg)
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast('cuda', dtype=dtype)


def is_cuda(t: torch.Tensor) -> bool:
    return t.device.type == 'cuda'
