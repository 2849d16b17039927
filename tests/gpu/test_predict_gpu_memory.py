"""tools/analysis_tools/predict_gpu_memory.py on the tiny pre-training
config: the forward traced on the simulated device, and the analytic
gradients / AdamW state from the parameter count."""
import os.path as osp
import sys

import pytest
from mmengine.config import Config

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, osp.join(ROOT, 'tools', 'analysis_tools'))
CONFIG = 'configs/pretrain/semaim_vit-tiny-p4_fashion-mnist.py'
GIB = 2**30


def test_prediction_adds_up():
    import predict_gpu_memory as pgm
    from mmpretrain.registry import MODELS
    cfg = Config.fromfile(osp.join(ROOT, CONFIG))
    params = list(MODELS.build(cfg.model).parameters())
    n = sum(p.numel() for p in params)
    trainable = sum(p.numel() for p in params if p.requires_grad)
    assert trainable < n  # the fixed sin-cos table takes no gradient
    name, batch, (weights, acts, grads, optim, total) = pgm.predict(CONFIG)
    assert batch == cfg.train_dataloader.batch_size
    assert weights == pytest.approx(n * 4 / GIB, rel=0.01)
    assert grads == pytest.approx(trainable * 4 / GIB, rel=1e-9)
    assert optim == pytest.approx(2 * grads, rel=1e-9)  # AdamW
    assert acts > weights  # batch 64 of 49 tokens outweighs the tiny ViT
    assert total == pytest.approx(weights + acts + grads + optim)
