"""The lr-0 sanity rows at a tiny budget: the pre-training loop runs (two
steps of the real recipe: AdamW, weight decay, grad clip, warm-up) and no
weight moves, and fine-tuning loads exactly those weights. So an lr-0 row
is the fine-tune of the pre-training model's own initialisation, which
draws every encoder tensor with the same mean and std as the random-init
row's classifier does, and holds the classifier's sin-cos position table
(MAE: transposed). Checked below: the rows differ by the draw, and MAE's
also by that table."""
import os.path as osp
from typing import Optional

import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import default_collate
from mmengine.optim import build_optim_wrapper
from mmengine.runner import set_random_seed
from mmpretrain.registry import DATASETS, MODELS

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
PRETRAIN = {
    'semaim': 'configs/pretrain/semaim_vit-tiny-p4_fashion-mnist.py',
    'mae': 'configs/pretrain/mae_vit-tiny-p4_fashion-mnist.py'}
FINETUNE = ('configs/benchmarks/finetune/'
            'vit-tiny-p4_1xb64-coslr-10e_fashion-mnist.py')


def _encoder(state: dict) -> dict:
    """The ``backbone.`` entries of a model's state dict, prefix dropped."""
    return {k[len('backbone.'):]: v for k, v in state.items()
            if k.startswith('backbone.')}


def _classifier(init_cfg: Optional[dict]) -> torch.nn.Module:
    """The fine-tuning classifier, built and initialised (``init_cfg``:
    None for random init, else a ``Pretrained`` dict)."""
    ft = Config.fromfile(osp.join(ROOT, FINETUNE))
    ft.model.backbone.init_cfg = init_cfg
    classifier = MODELS.build(ft.model)
    classifier.init_weights()
    return classifier


def _batch(cfg: Config, n: int = 8) -> dict:
    ds = dict(cfg.train_dataloader.dataset, indices=n)
    data = DATASETS.build(ds)
    return default_collate([data[i] for i in range(n)])


@pytest.mark.parametrize('method', sorted(PRETRAIN))
def test_lr0_pretraining_leaves_the_init_for_finetuning(method, tmp_path):
    cfg = Config.fromfile(osp.join(ROOT, PRETRAIN[method]))
    cfg.optim_wrapper.optimizer.lr = 0.0
    set_random_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    batch = _batch(cfg)
    grads = []  # backward reached the weights: the loop did run
    next(p for p in model.parameters() if p.requires_grad).register_hook(
        lambda g: grads.append(float(g.abs().sum())))
    for it in range(2):
        for sample in batch['data_samples']:  # what SampleIterationHook does
            sample.set_metainfo(dict(iteration=it))
        losses = model.train_step(batch, wrapper)
        assert torch.isfinite(losses['loss'])
    after = model.state_dict()
    moved = [k for k in before if not torch.equal(before[k], after[k])]
    assert moved == []
    assert len(grads) == 2 and max(grads) > 0

    ckpt = str(tmp_path / 'lr0.pth')
    torch.save(dict(state_dict=after), ckpt)
    classifier = _classifier(dict(type='Pretrained', checkpoint=ckpt,
                                  prefix='backbone.'))
    encoder = _encoder(after)
    loaded = classifier.backbone.state_dict()
    shared = [k for k in encoder if k in loaded]
    assert len(shared) >= 0.9 * len(loaded)
    for k in shared:
        assert torch.equal(loaded[k], encoder[k]), k


@pytest.mark.parametrize('method', sorted(PRETRAIN))
def test_pretraining_init_draws_like_the_random_init_row(method):
    """Per encoder tensor, the pre-training model's initial values and the
    fine-tuning classifier's random init have the same mean and std within
    sampling error: 5 standard errors of the difference of two independent
    samples of n entries (means: std sqrt(2 / n); stds: std / sqrt(n));
    constants (norms, biases) agree to 1e-4. The position table is the
    classifier's own for SemAIM and the transposed one for MAE
    (mmpretrain's MAEViT lists the grid column-major)."""
    cfg = Config.fromfile(osp.join(ROOT, PRETRAIN[method]))
    set_random_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    encoder = _encoder(model.state_dict())
    set_random_seed(1)
    classifier = _classifier(None)
    random = classifier.backbone.state_dict()
    assert set(random) - set(encoder) == {'ln2.weight', 'ln2.bias'}
    grid = classifier.backbone.patch_resolution
    table = random['pos_embed'][0, 1:]
    if method == 'mae':
        table = table.view(*grid, -1).transpose(0, 1).reshape(table.shape)
    # MAEViT computes its table in fp32, the classifier in fp64
    assert torch.allclose(encoder['pos_embed'][0, 1:], table, rtol=0,
                          atol=1e-6)
    for k in random.keys() & encoder.keys():
        a, b = random[k].float(), encoder[k].float()
        assert a.shape == b.shape, k
        n, std = a.numel(), float(a.std()) if a.numel() > 1 else 0.0
        assert abs(float(a.mean()) - float(b.mean())) < \
            1e-4 + 5 * std * (2 / n) ** 0.5, k
        assert abs(std - (float(b.std()) if n > 1 else 0.0)) < \
            1e-4 + 5 * std / n ** 0.5, k


@pytest.mark.slow
def test_loaded_weights_finetune_like_the_random_init_row(tmp_path):
    """The lr-0 row's path (the classifier loads a checkpoint) and the
    random-init row's path (it draws its own weights) run the same steps:
    given the random-init row's own draw as the checkpoint, fine-tuning
    ends on the same weights bit for bit, and a perturbed checkpoint ends
    elsewhere (so the checkpoint was loaded). So the rows differ only by
    the weights the checkpoint holds."""
    from mmengine.runner import Runner

    def runner(init_cfg, name: str) -> Runner:
        cfg = Config.fromfile(osp.join(ROOT, FINETUNE))
        cfg.model.backbone.init_cfg = init_cfg
        cfg.train_dataloader.dataset.indices = 128  # two steps
        cfg.train_cfg = dict(by_epoch=True, max_epochs=1, val_interval=9)
        for part in ('val', 'test'):
            cfg[f'{part}_cfg'] = cfg[f'{part}_dataloader'] = None
            cfg[f'{part}_evaluator'] = None
        cfg.default_hooks.checkpoint = None
        cfg.randomness = dict(seed=1)
        cfg.log_level = 'WARNING'
        cfg.work_dir = str(tmp_path / name)
        return Runner.from_cfg(cfg)

    draw = runner(None, 'draw')
    draw.model.init_weights()
    start = draw.model.state_dict()
    perturbed = {k: v + 1e-3 if k == 'backbone.cls_token' else v
                 for k, v in start.items()}
    ends = []
    for name, weights in (('random', None), ('lr0', start),
                          ('perturbed', perturbed)):
        init_cfg = None
        if weights is not None:
            init_cfg = dict(type='Pretrained', prefix='backbone.',
                            checkpoint=str(tmp_path / f'{name}.pth'))
            torch.save(dict(state_dict=weights), init_cfg['checkpoint'])
        r = runner(init_cfg, name)
        r.train()
        ends.append(r.model.state_dict())
    assert not all(torch.equal(ends[0][k], start[k]) for k in start)
    assert all(torch.equal(ends[0][k], ends[1][k]) for k in ends[0])
    assert not all(torch.equal(ends[0][k], ends[2][k]) for k in ends[0])
