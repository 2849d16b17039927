"""k-NN evaluation of frozen features (the DINO / SemAIM protocol).

Weighted k-NN: cosine similarity between L2-normalised features, the top-k
neighbours of a query vote for their class with weight ``exp(sim / T)``
(T = 0.07); prediction = the class with the largest summed weight. Several k
are evaluated from one top-``max(k)`` search.

Pieces:

* :func:`knn_classify` - the pure computation (tensors in, accuracies out).
* :func:`gather_features` - rank-local features -> the full set on every
  rank, with :func:`mmengine.dist.all_gather_object` (re-ordered by dataset
  index so the bank does not depend on world size).
* :func:`extract_features` - run a backbone over a dataset shard.
* :class:`KNNAccuracy` - an mmengine metric (mmpretrain ``METRICS``):
  ``process`` collects query features, the bank is given with
  :meth:`KNNAccuracy.set_bank` (or built from a bank dataloader).
* :class:`KNNEvalHook` - runs the whole protocol every ``interval`` training
  iterations / epochs during pre-training and logs ``knn/top1_k{k}``.
"""
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from mmengine import dist
from mmengine.evaluator import BaseMetric
from mmengine.hooks import Hook
from mmengine.logging import MMLogger
from torch import Tensor, nn

from mmpretrain.registry import HOOKS, METRICS

FEATURE_TYPES = ('cls', 'gap', 'cls_gap')


def knn_classify(bank_feats: Tensor,
                 bank_labels: Tensor,
                 query_feats: Tensor,
                 query_labels: Tensor,
                 ks: Sequence[int] = (10, 20, 30),
                 temperature: float = 0.07,
                 num_classes: Optional[int] = None,
                 chunk_size: int = 1024) -> Dict[int, float]:
    """Top-1 accuracy (percent) of weighted k-NN for every k in ``ks``.

    Args:
        bank_feats: (M, D) features of the labelled bank (train split).
        bank_labels: (M,) int labels.
        query_feats: (Q, D) features to classify (val split).
        query_labels: (Q,) int labels.
        ks: neighbour counts; each must be <= M.
        temperature: T in ``exp(cos / T)``.
        num_classes: defaults to ``max label + 1``.
        chunk_size: queries per similarity block (memory: chunk x M).

    Returns:
        ``{k: top-1 accuracy in percent}``.
    """
    ks = sorted({int(k) for k in ks})
    if not ks or ks[0] < 1:
        raise ValueError(f'ks must be positive integers, got {ks}')
    if bank_feats.shape[0] != bank_labels.shape[0] or \
            query_feats.shape[0] != query_labels.shape[0]:
        raise ValueError('features and labels differ in length')
    if ks[-1] > bank_feats.shape[0]:
        raise ValueError(f'k={ks[-1]} exceeds the bank size '
                         f'{bank_feats.shape[0]}')
    if query_feats.shape[0] == 0:
        raise ValueError('no query features to classify')
    bank_labels = bank_labels.long()
    query_labels = query_labels.long()
    if num_classes is None:
        num_classes = int(max(bank_labels.max(), query_labels.max())) + 1
    bank = F.normalize(bank_feats.float(), dim=1)
    correct = {k: 0 for k in ks}
    kmax = ks[-1]
    for start in range(0, query_feats.shape[0], chunk_size):
        q = F.normalize(query_feats[start:start + chunk_size].float(), dim=1)
        y = query_labels[start:start + chunk_size]
        sim = q @ bank.t()  # (B, M)
        top_sim, top_idx = sim.topk(kmax, dim=1)  # sorted descending
        top_lab = bank_labels[top_idx]  # (B, kmax)
        weight = (top_sim / temperature).exp()
        onehot = F.one_hot(top_lab, num_classes).float() * weight[..., None]
        # cumulative votes: votes of the first k neighbours, all k at once
        votes = onehot.cumsum(dim=1)  # (B, kmax, C)
        for k in ks:
            pred = votes[:, k - 1].argmax(dim=1)
            correct[k] += int((pred == y).sum())
    n = query_feats.shape[0]
    return {k: 100.0 * correct[k] / n for k in ks}


def gather_features(feats: Tensor, labels: Tensor,
                    indices: Tensor) -> Tuple[Tensor, Tensor]:
    """Gather rank-local (feats, labels, dataset indices) onto every rank.

    Uses :func:`mmengine.dist.all_gather_object` (shards of any length);
    duplicates (samplers pad the last shard) are dropped and the result is
    sorted by dataset index, so it equals a single-process extraction.
    """
    if dist.get_world_size() == 1:
        order = torch.argsort(indices)
        return feats[order], labels[order]
    shards = dist.all_gather_object(
        (feats.float().cpu(), labels.long().cpu(), indices.long().cpu()))
    f, lab, idx = (torch.cat(parts) for parts in zip(*shards))
    _, first = _unique_first(idx)
    return f[first].to(feats.device), lab[first].to(labels.device)


def _unique_first(idx: Tensor) -> Tuple[Tensor, Tensor]:
    """Sorted unique values and the position of their first occurrence."""
    order = torch.argsort(idx, stable=True)
    sorted_idx = idx[order]
    keep = torch.ones_like(sorted_idx, dtype=torch.bool)
    keep[1:] = sorted_idx[1:] != sorted_idx[:-1]
    return sorted_idx[keep], order[keep]


def backbone_features(backbone: nn.Module, inputs: Tensor,
                      feature: str = 'gap') -> Tensor:
    """(B, D) features of normalised images from a ViT backbone.

    ``'cls'``: the CLS token after the final norm; ``'gap'``: mean of the
    normed patch tokens; ``'cls_gap'``: both concatenated. Works for
    :class:`SemAIMViT` (``forward_tokens``) and mmpretrain
    ``VisionTransformer`` (``out_type`` switched to ``'raw'`` for the call).
    """
    if feature not in FEATURE_TYPES:
        raise ValueError(f'feature must be one of {FEATURE_TYPES}, '
                         f'got {feature!r}')
    if hasattr(backbone, 'forward_tokens'):
        tokens = backbone.forward_tokens(inputs)
    elif hasattr(backbone, 'out_type'):
        old = backbone.out_type
        backbone.out_type = 'raw'
        try:
            tokens = backbone(inputs)[-1]
        finally:
            backbone.out_type = old
        if getattr(backbone, 'final_norm', True) is False:
            tokens = F.layer_norm(tokens, tokens.shape[-1:])
    else:
        raise TypeError(f'{type(backbone).__name__} is not a ViT backbone '
                        '(needs forward_tokens or out_type)')
    cls, patches = tokens[:, 0], tokens[:, 1:].mean(dim=1)
    if feature == 'cls':
        return cls
    if feature == 'gap':
        return patches
    return torch.cat([cls, patches], dim=1)


def shard_indices(n: int, rank: Optional[int] = None,
                  world_size: Optional[int] = None) -> List[int]:
    """Indices of this rank's shard: ``rank, rank + W, ...`` (no padding)."""
    rank = dist.get_rank() if rank is None else rank
    world_size = dist.get_world_size() if world_size is None else world_size
    return list(range(rank, n, world_size))


@torch.no_grad()
def extract_features(model: nn.Module,
                     dataset,
                     feature: Union[str, Sequence[str]] = 'gap',
                     batch_size: int = 256,
                     num_workers: int = 0,
                     gather: bool = True,
                     progress: bool = False,
                     desc: str = 'features'):
    """Features and labels of ``dataset`` with ``model``'s backbone.

    ``model`` must have ``data_preprocessor`` and ``backbone`` (any
    mmpretrain model, SemAIM included). Every rank extracts its own shard
    (:func:`shard_indices`); with ``gather`` the full, index-ordered set is
    returned on every rank. ``feature`` may be a list: then a dict
    ``{feature: (feats, labels)}`` is returned from one pass.
    """
    from mmengine.dataset import default_collate
    from torch.utils.data import DataLoader, Subset
    names = [feature] if isinstance(feature, str) else list(feature)
    idx = shard_indices(len(dataset))
    loader = DataLoader(
        Subset(dataset, idx), batch_size=batch_size, shuffle=False,
        num_workers=num_workers, collate_fn=default_collate)
    was_training = model.training
    model.eval()
    feats = {n: [] for n in names}
    labels = []
    it = loader
    if progress and dist.get_rank() == 0:
        from tqdm import tqdm
        it = tqdm(loader, desc=desc, unit='batch', leave=False)
    try:
        for batch in it:
            data = model.data_preprocessor(batch, False)
            inputs = data['inputs']
            if isinstance(inputs, (list, tuple)):
                inputs = inputs[0]
            with torch.no_grad():
                if len(names) == 1:
                    out = {names[0]: backbone_features(model.backbone, inputs,
                                                       names[0])}
                else:
                    both = backbone_features(model.backbone, inputs,
                                             'cls_gap')
                    d = both.shape[1] // 2
                    parts = dict(cls=both[:, :d], gap=both[:, d:],
                                 cls_gap=both)
                    out = {n: parts[n] for n in names}
            for n in names:
                feats[n].append(out[n].float().cpu())
            labels.append(torch.as_tensor(
                [int(ds.gt_label) for ds in data['data_samples']]))
    finally:
        model.train(was_training)
    labels = torch.cat(labels) if labels else torch.zeros(0, dtype=torch.long)
    index = torch.as_tensor(idx, dtype=torch.long)
    result = {}
    for n in names:
        f = torch.cat(feats[n]) if feats[n] else torch.zeros(0, 1)
        result[n] = gather_features(f, labels, index) if gather else (f,
                                                                      labels)
    return result[names[0]] if isinstance(feature, str) else result


@METRICS.register_module()
class KNNAccuracy(BaseMetric):
    """Weighted k-NN top-1 accuracy as an mmengine metric.

    Query features come from ``process``: each data sample (dict or
    ``DataSample``) must carry a feature under ``feat_key`` (default
    ``'feat'``) and ``gt_label``. The labelled bank is given by
    :meth:`set_bank` (rank-local shards are gathered, :func:`gather_features`).
    Query results are collected across ranks by mmengine's ``BaseMetric``.

    Args:
        ks: neighbour counts (default 10 / 20 / 30).
        temperature: softmax temperature T (0.07).
        num_classes: number of classes (default: from the labels).
        feat_key: field of the data samples holding the feature.
    """
    default_prefix = 'knn'

    def __init__(self,
                 ks: Sequence[int] = (10, 20, 30),
                 temperature: float = 0.07,
                 num_classes: Optional[int] = None,
                 feat_key: str = 'feat',
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.ks = tuple(sorted({int(k) for k in ks}))
        self.temperature = temperature
        self.num_classes = num_classes
        self.feat_key = feat_key
        self.bank: Optional[Tuple[Tensor, Tensor]] = None

    def set_bank(self, feats: Tensor, labels: Tensor,
                 indices: Optional[Tensor] = None,
                 gather: bool = True) -> None:
        """Set the labelled bank. With ``gather`` (default) ``feats`` are this
        rank's shard and ``indices`` their dataset indices (default: this
        rank's :func:`shard_indices`)."""
        if gather:
            if indices is None:
                # rank-local shard of a dataset sharded by shard_indices
                n_total = torch.tensor([feats.shape[0]])
                n_total = int(sum(dist.all_gather(n_total)))
                indices = torch.as_tensor(shard_indices(n_total))
            feats, labels = gather_features(feats, labels, indices)
        self.bank = (feats.float().cpu(), labels.long().cpu())

    def process(self, data_batch, data_samples: Sequence) -> None:
        for ds in data_samples:
            get = ds.get if isinstance(ds, dict) else \
                (lambda k, d=ds: getattr(d, k, None))
            feat, label = get(self.feat_key), get('gt_label')
            if feat is None or label is None:
                raise KeyError(f'KNNAccuracy needs {self.feat_key!r} and '
                               "'gt_label' in every data sample")
            self.results.append((torch.as_tensor(feat).float().cpu().view(-1),
                                 int(torch.as_tensor(label).view(-1)[0])))

    def compute_metrics(self, results: List) -> Dict[str, float]:
        if self.bank is None:
            raise RuntimeError('KNNAccuracy has no bank: call set_bank() '
                               'with the train-split features first')
        feats = torch.stack([r[0] for r in results])
        labels = torch.as_tensor([r[1] for r in results])
        acc = knn_classify(*self.bank, feats, labels, self.ks,
                           self.temperature, self.num_classes)
        return {f'top1_k{k}': v for k, v in acc.items()}


def run_knn(model: nn.Module,
            bank_dataset,
            query_dataset,
            ks: Sequence[int] = (10, 20, 30),
            temperature: float = 0.07,
            feature: str = 'gap',
            batch_size: int = 256,
            num_workers: int = 0,
            progress: bool = False) -> Dict[str, float]:
    """The whole protocol on every rank: extract bank and query features
    (sharded, gathered), then :class:`KNNAccuracy`. Returns
    ``{'knn/top1_k10': ..., ...}`` on every rank."""
    metric = KNNAccuracy(ks=ks, temperature=temperature)
    bank = extract_features(model, bank_dataset, feature, batch_size,
                            num_workers, gather=True, progress=progress,
                            desc='k-NN bank')
    metric.set_bank(*bank, gather=False)
    qf, ql = extract_features(model, query_dataset, feature, batch_size,
                              num_workers, gather=False, progress=progress,
                              desc='k-NN query')
    metric.process(None, [dict(feat=f, gt_label=l) for f, l in zip(qf, ql)])
    return metric.evaluate(len(query_dataset))


@HOOKS.register_module()
class KNNEvalHook(Hook):
    """k-NN accuracy of the backbone during pre-training.

    Every ``interval`` epochs (or iterations with ``by_epoch=False``) and
    after training, extracts features of ``bank_dataset`` (train split,
    deterministic pipeline) and ``query_dataset`` (val split) on all ranks,
    gathers them and logs ``knn/top1_k{k}`` to the message hub / loggers.

    Args:
        bank_dataset, query_dataset: dataset configs (or datasets).
        interval: evaluation period; 0 = only after training.
        by_epoch: count ``interval`` in epochs (default) or iterations.
        ks, temperature, feature: see :func:`run_knn`.
    """
    priority = 'LOW'

    def __init__(self,
                 bank_dataset,
                 query_dataset,
                 interval: int = 1,
                 by_epoch: bool = True,
                 ks: Sequence[int] = (10, 20, 30),
                 temperature: float = 0.07,
                 feature: str = 'gap',
                 batch_size: int = 256,
                 num_workers: int = 0) -> None:
        self.bank_cfg, self.query_cfg = bank_dataset, query_dataset
        self.interval, self.by_epoch = interval, by_epoch
        self.ks, self.temperature, self.feature = ks, temperature, feature
        self.batch_size, self.num_workers = batch_size, num_workers
        self._datasets = None
        self.last: Dict[str, float] = {}

    def _build(self):
        if self._datasets is None:
            from mmpretrain.registry import DATASETS
            build = (lambda c: DATASETS.build(c) if isinstance(c, dict) else c)
            self._datasets = (build(self.bank_cfg), build(self.query_cfg))
        return self._datasets

    def evaluate(self, runner) -> Dict[str, float]:
        from mmengine.model import is_model_wrapper
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        bank, query = self._build()
        self.last = run_knn(model, bank, query, self.ks, self.temperature,
                            self.feature, self.batch_size, self.num_workers)
        step = runner.epoch if self.by_epoch else runner.iter
        for k, v in self.last.items():
            runner.message_hub.update_scalar(f'train/{k}', v)
        runner.visualizer.add_scalars(self.last, step=step)
        MMLogger.get_current_instance().info(
            'k-NN: ' + ', '.join(f'{k}={v:.2f}' for k, v in self.last.items()))
        return self.last

    def after_train_epoch(self, runner) -> None:
        if self.by_epoch and self.interval > 0 and \
                self.every_n_epochs(runner, self.interval):
            self.evaluate(runner)

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None) -> None:
        if not self.by_epoch and self.interval > 0 and \
                self.every_n_train_iters(runner, self.interval):
            self.evaluate(runner)

    def after_train(self, runner) -> None:
        done = (runner.epoch if self.by_epoch else runner.iter)
        if self.interval <= 0 or done % self.interval:
            self.evaluate(runner)
