"""Every paper-scale config family, built on a simulated CUDA device and run
forward at the config's per-GPU batch under its autocast (the technique:
``semaim_mm/profiling/simulated_cuda.py``, which the GPU memory
prediction uses too). A CPU tensor mixed into the CUDA
computation fails here as it would on the first GPU run.

Covered: pre-training ViT-B/16 at 64 images in bf16 with every order, the
teacher similarity source (DINO and CLIP teachers read from
synthetic weight files: small teachers, the config's student), ViT-S and
ViT-L; ImageNet fine-tune (128) and linear probe (512); k-NN feature
extraction (256); ViTDet Mask R-CNN (8 images, backbone + FPN + RPN head:
the RoI heads need mmcv's compiled ops); UperNet (2 crops, loss).
"""
import pytest
import torch
from mmengine.config import Config

from semaim_mm.profiling.simulated_cuda import (amp, autocast_dtype,
                                                build_on_cuda, is_cuda,
                                                move_to_cuda, simulated_cuda)
from teachers.published import (dino_vit, randomize_, save_dino_release,
                                 save_openai_jit, tiny_clip)

PRETRAIN = 'configs/pretrain/'
ORDERS = ['semaim_vitb_800e.py'] + [
    f'semaim_vitb_200e_order-{o}.py' for o in
    ('raster', 'stochastic', 'similarity', 'semantic-official',
     'multicenter')]


def batch_size(cfg: Config) -> int:
    return cfg.train_dataloader.batch_size


def pretrain_forward(cfg: Config) -> dict:
    """SemAIM.loss at the per-GPU batch; the order noise is seeded per
    sample (``sample_idx``, ``iteration``), as in training. A teacher
    target generator is built for real first (it reads its weight file),
    then moved."""
    from mmpretrain.registry import MODELS
    from mmpretrain.structures import DataSample
    b = batch_size(cfg)
    model_cfg = cfg.model.to_dict()
    teacher = 'checkpoint' in model_cfg.get('target_generator', {})
    if teacher:
        model_cfg['target_generator'] = MODELS.build(dict(
            model_cfg['target_generator'],
            student_patch_size=model_cfg['backbone']['patch_size']))
    with simulated_cuda('mmpretrain'):
        model = build_on_cuda(MODELS, model_cfg)
        if teacher:
            move_to_cuda(model.target_generator)
        data = dict(  # default_collate's batch
            inputs=torch.randint(0, 256, (b, 3, 224, 224), dtype=torch.uint8),
            data_samples=[DataSample(metainfo=dict(sample_idx=i,
                                                   iteration=0))
                          for i in range(b)])
        data = model.data_preprocessor(data, True)
        dtypes = []
        model.head.mlp.fc1.register_forward_hook(
            lambda m, i, o: dtypes.append(o.dtype))
        with amp(cfg):
            losses = model(**data, mode='loss')
        assert all(is_cuda(v) for v in losses.values())
        assert losses['loss'].dtype == torch.float32
        assert dtypes == [autocast_dtype(cfg)]
        return losses


@pytest.mark.parametrize('name', ORDERS)
def test_pretrain_every_order(name):
    cfg = Config.fromfile(PRETRAIN + name)
    assert batch_size(cfg) == 64 and autocast_dtype(cfg) == torch.bfloat16
    pretrain_forward(cfg)


@pytest.mark.parametrize('name', ['semaim_vits_800e.py',
                                  'semaim_vitl_800e.py'])
def test_pretrain_other_sizes(name):
    pretrain_forward(Config.fromfile(PRETRAIN + name))


@pytest.fixture(scope='module')
def teacher_files(tmp_path_factory):
    """Synthetic DINO release / OpenAI TorchScript files at patch 16
    (small widths; the configs' ``arch`` is then read from the file)."""
    folder = tmp_path_factory.mktemp('teachers')
    dino = str(folder / 'dino_vit16.pth')
    save_dino_release(randomize_(dino_vit(224, 16, 64, 2, 2), seed=1), dino)
    clip = str(folder / 'ViT-16.pt')
    save_openai_jit(randomize_(tiny_clip(image_resolution=224, patch=16),
                               seed=2).eval(), clip)
    return dict(dino=dino, clip=clip)


@pytest.mark.parametrize('kind', ['dino', 'clip'])
def test_pretrain_teachers(kind, teacher_files):
    cfg = Config.fromfile(PRETRAIN + f'semaim_vitb_{kind}_800e.py')
    cfg.model.target_generator.update(checkpoint=teacher_files[kind],
                                      arch=None)
    assert cfg.model.similarity_source == 'teacher'
    pretrain_forward(cfg)


def classifier_forward(path: str) -> None:
    from mmpretrain.registry import MODELS
    from mmpretrain.structures import DataSample
    cfg = Config.fromfile(path)
    b = batch_size(cfg)
    assert autocast_dtype(cfg) == torch.bfloat16
    with simulated_cuda('mmpretrain'):
        model = build_on_cuda(MODELS, cfg.model)
        data = dict(  # default_collate's batch
            inputs=torch.randint(0, 256, (b, 3, 224, 224), dtype=torch.uint8),
            data_samples=[DataSample().set_gt_label(i % 1000)
                          for i in range(b)])
        data = model.data_preprocessor(data, True)
        dtypes = []
        model.head.fc.register_forward_hook(
            lambda m, i, o: dtypes.append(o.dtype))
        with amp(cfg):
            losses = model(**data, mode='loss')
        assert all(is_cuda(v) for v in losses.values())
        assert dtypes == [torch.bfloat16]


@pytest.mark.parametrize('path', [
    'configs/benchmarks/finetune/vit-base-p16_8xb128-coslr-100e_in1k.py',
    'configs/benchmarks/linear/vit-base-p16_8xb512-linear-coslr-90e_in1k.py',
    'configs/benchmarks/linear/'
    'vit-base-p16_8xb512-linear-coslr-90e_in1k_gap.py',
])
def test_finetune_and_linear(path):
    classifier_forward(path)


def test_knn_feature_extraction():
    from mmpretrain.registry import MODELS
    from mmpretrain.structures import DataSample
    from semaim_mm.evaluation.knn import extract_batch_features
    cfg = Config.fromfile('configs/benchmarks/knn/vit-base-p16_knn_in1k.py')
    b = cfg.val_dataloader.batch_size
    with simulated_cuda('mmpretrain'):
        model = build_on_cuda(MODELS, cfg.model).eval()
        data = dict(
            inputs=torch.randint(0, 256, (b, 3, 224, 224), dtype=torch.uint8),
            data_samples=[DataSample().set_gt_label(i % 1000)
                          for i in range(b)])
        feats, labels = extract_batch_features(model, data, ['cls', 'gap'])
        assert feats['gap'].shape == (b, 768) and labels.shape == (b, )
        assert is_cuda(feats['gap']) and is_cuda(labels)


def test_vitdet_mask_rcnn():
    import semaim_mm.det  # noqa: F401
    from mmdet.registry import MODELS
    from mmdet.structures import DetDataSample
    cfg = Config.fromfile('configs/det/semaim_vitb_mask-rcnn_fpn_100e_coco.py')
    b = batch_size(cfg)
    size = cfg.image_size if 'image_size' in cfg else (1024, 1024)
    with simulated_cuda('mmdet'):
        model = build_on_cuda(MODELS, cfg.model)
        data = dict(  # stacked: the padding of a list reads sizes on host
            inputs=torch.randint(0, 256, (b, 3, *size), dtype=torch.uint8),
            data_samples=[DetDataSample(metainfo=dict(
                img_shape=size, pad_shape=size, ori_shape=size,
                scale_factor=(1., 1.))) for _ in range(b)])
        data = model.data_preprocessor(data, False)
        with amp(cfg):
            feats = model.extract_feat(data['inputs'])
            scores, deltas = model.rpn_head(feats)
        assert len(feats) == 5 and all(is_cuda(f) for f in feats)
        assert all(is_cuda(s) for s in scores + deltas)


def test_upernet():
    import semaim_mm.seg  # noqa: F401
    from mmengine.structures import PixelData
    from mmseg.registry import MODELS
    from mmseg.structures import SegDataSample
    cfg = Config.fromfile(
        'configs/seg/semaim_vitb_upernet_160k_ade20k-512x512.py')
    b, size = batch_size(cfg), tuple(cfg.crop_size)
    with simulated_cuda('mmseg'):
        model = build_on_cuda(MODELS, cfg.model)
        samples = []
        for _ in range(b):
            s = SegDataSample(metainfo=dict(img_shape=size, pad_shape=size,
                                            ori_shape=size))
            s.gt_sem_seg = PixelData(data=torch.randint(
                0, 150, (1, *size), dtype=torch.long))
            samples.append(s)
        data = dict(inputs=torch.randint(0, 256, (b, 3, *size),
                                         dtype=torch.uint8),
                    data_samples=samples)
        data = model.data_preprocessor(data, True)
        head = model.decode_head
        with amp(cfg):
            # the decode head's loss without its accuracy (a boolean mask's
            # size is data-dependent, which fake tensors cannot give)
            logits = model(data['inputs'], mode='tensor')
            labels = torch.stack(
                [s.gt_sem_seg.data[0] for s in data['data_samples']])
            logits = torch.nn.functional.interpolate(
                logits, size=size, mode='bilinear', align_corners=False)
            loss = head.loss_decode(logits, labels,
                                    ignore_index=head.ignore_index)
        assert is_cuda(loss) and logits.shape == (b, 150, *size)
