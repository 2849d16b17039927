"""The ADE20k config: model, train pipeline and optimizer wrapper build;
forward/backward and slide inference run (at reduced width)."""
import numpy as np
import pytest
import torch
from PIL import Image

from .conftest import ADE_CONFIG, shrink_to_tiny


@pytest.fixture
def ade_cfg(mmseg_scope):
    from mmengine.config import Config
    return Config.fromfile(ADE_CONFIG)


def test_paper_hyper_parameters(ade_cfg):
    cfg = ade_cfg
    assert cfg.default_scope == 'mmseg'
    assert cfg.custom_imports['imports'] == ['semaim_mm.seg']
    assert cfg.train_cfg.max_iters == 160000
    assert cfg.train_dataloader.batch_size * 8 == 16
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper'
    assert cfg.optim_wrapper.optimizer.lr == 4e-4
    assert cfg.optim_wrapper.optimizer.weight_decay == 0.05
    assert cfg.optim_wrapper.paramwise_cfg.decay_rate == 0.65
    warmup, poly = cfg.param_scheduler
    assert (warmup.type, warmup.end, poly.type, poly.begin, poly.end) == (
        'LinearLR', 1500, 'PolyLR', 1500, 160000)
    assert cfg.model.test_cfg == dict(mode='slide', crop_size=(512, 512),
                                      stride=(341, 341))
    assert cfg.model.backbone.out_indices == (3, 5, 7, 11)
    assert cfg.model.decode_head.num_classes == 150
    assert cfg.model.auxiliary_head.type == 'FCNHead'
    assert cfg.model.backbone.init_cfg.type == 'Pretrained'


def test_full_config_builds_model_pipeline_optimizer(ade_cfg, tmp_path):
    from mmengine.dataset import Compose
    from mmengine.model import revert_sync_batchnorm
    from mmengine.optim import build_optim_wrapper
    from mmseg.registry import MODELS
    cfg = ade_cfg
    model = revert_sync_batchnorm(MODELS.build(cfg.model))  # ViT-B, no load
    n_backbone = sum(p.numel() for p in model.backbone.parameters())
    assert 85e6 < n_backbone < 88e6  # ViT-B/16
    ow_cfg = cfg.optim_wrapper.copy()
    if not torch.cuda.is_available():
        # mmengine's AmpOptimWrapper asserts a GPU/NPU/MLU/MUSA device; the
        # constructor and param groups are the same with OptimWrapper.
        assert ow_cfg.pop('dtype') == 'bfloat16'
        ow_cfg.type = 'OptimWrapper'
        ow_cfg.pop('loss_scale')
    ow = build_optim_wrapper(model, ow_cfg)
    lrs = sorted({g['lr'] for g in ow.optimizer.param_groups})
    assert lrs[-1] == pytest.approx(4e-4)
    assert lrs[0] == pytest.approx(4e-4 * 0.65**13)
    # train pipeline on an ADE-like image (683x512, labels 0..150)
    img = (np.random.RandomState(0).rand(512, 683, 3) * 255).astype(np.uint8)
    seg = np.random.RandomState(1).randint(0, 151, (512, 683)).astype(
        np.uint8)
    Image.fromarray(img).save(tmp_path / 'a.jpg')
    Image.fromarray(seg).save(tmp_path / 'a.png')
    pipeline = Compose(cfg.train_pipeline)
    out = pipeline(dict(img_path=str(tmp_path / 'a.jpg'),
                        seg_map_path=str(tmp_path / 'a.png'),
                        reduce_zero_label=True, seg_fields=[]))
    assert out['inputs'].shape[0] == 3
    assert tuple(out['inputs'].shape[1:]) <= (512, 512)
    labels = out['data_samples'].gt_sem_seg.data.unique()
    assert labels.max() <= 255 and ((labels < 150) | (labels == 255)).all()


def test_forward_backward_reduced(ade_cfg):
    from mmengine.model import revert_sync_batchnorm
    from mmseg.registry import MODELS
    from mmseg.structures import SegDataSample
    from mmengine.structures import PixelData
    cfg = ade_cfg
    cfg.model = shrink_to_tiny(cfg.model)
    cfg.model.backbone.img_size = (64, 64)
    cfg.model.data_preprocessor.size = (64, 64)
    torch.manual_seed(0)
    model = revert_sync_batchnorm(MODELS.build(cfg.model))
    model.init_weights()
    model.train()
    samples = []
    for i in range(2):  # batch >= 2: PSP's BatchNorm on a 1x1 map
        s = SegDataSample()
        gen = torch.Generator().manual_seed(i)
        s.gt_sem_seg = PixelData(
            data=torch.randint(0, 150, (1, 64, 64), generator=gen))
        s.set_metainfo(dict(img_shape=(64, 64), ori_shape=(64, 64),
                            pad_shape=(64, 64)))
        samples.append(s)
    data = model.data_preprocessor(
        dict(inputs=[torch.randint(0, 255, (3, 64, 64), dtype=torch.uint8)
                     for _ in range(2)], data_samples=samples), True)
    losses = model(**data, mode='loss')
    assert set(losses) >= {'decode.loss_ce', 'aux.loss_ce'}
    loss = sum(v for k, v in losses.items() if 'loss' in k)
    assert torch.isfinite(loss)
    loss.backward()
    g = model.backbone.layers[0].attn.qkv.weight.grad
    assert g is not None and g.abs().sum() > 0
    assert model.backbone.pos_embed.grad is None  # fixed sin-cos


def test_slide_inference_full_size_non_square(ade_cfg):
    from mmengine.model import revert_sync_batchnorm
    from mmseg.registry import MODELS
    from mmseg.structures import SegDataSample
    cfg = ade_cfg
    cfg.model = shrink_to_tiny(cfg.model, dims=16)
    torch.manual_seed(0)
    model = revert_sync_batchnorm(MODELS.build(cfg.model))
    model.eval()
    model.init_weights()
    s = SegDataSample()
    s.set_metainfo(dict(img_shape=(512, 683), ori_shape=(512, 683)))
    data = model.data_preprocessor(
        dict(inputs=[torch.randint(0, 255, (3, 512, 683), dtype=torch.uint8)],
             data_samples=[s]), False)
    calls = []
    model.backbone.register_forward_hook(
        lambda m, i, o: calls.append(tuple(i[0].shape[-2:])))
    with torch.no_grad():
        out = model.test_step(dict(
            inputs=[torch.randint(0, 255, (3, 512, 683), dtype=torch.uint8)],
            data_samples=[s]))[0]
    assert calls == [(512, 512), (512, 512)]  # 2 crops, stride 341
    assert tuple(out.pred_sem_seg.data.shape) == (1, 512, 683)
    assert tuple(out.seg_logits.data.shape) == (150, 512, 683)
    assert data['inputs'].shape[-2:] == (512, 683)  # no padding at test
