"""k-NN evaluation of frozen features (the DINO / SemAIM protocol).

Weighted k-NN: cosine similarity between L2-normalised features, the top-k
neighbours of a query vote for their class with weight ``exp(sim / T)``
(T = 0.07); prediction = the class with the largest summed weight. Several k
are evaluated from one top-``max(k)`` search.

Pieces:

* :func:`knn_classify` - the pure computation (tensors in, accuracies out).
* :func:`gather_features` - rank-local features -> the full set on every
  rank (:func:`mmengine.dist.all_gather_object`) or on one rank only
  (:func:`mmengine.dist.gather_object`), re-ordered by dataset index so the
  bank does not depend on world size.
* :func:`extract_features` - run a backbone over a dataset shard
  (:func:`extract_batch_features` per batch: bf16 autocast on a GPU).
* :func:`run_knn` - the whole protocol: the bank and the queries are
  gathered on rank 0 only, which searches them (on its GPU, in chunks, when
  it has one) and broadcasts the accuracies.
* :class:`KNNAccuracy` - an mmengine metric (mmpretrain ``METRICS``):
  ``process`` collects query features, the bank is given with
  :meth:`KNNAccuracy.set_bank` (or built from a bank dataloader).
* :class:`KNNEvalHook` - runs the whole protocol every ``interval`` training
  iterations / epochs during pre-training and logs ``knn/top1_k{k}``.
"""
import warnings
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


class KNNBankWarning(UserWarning):
    """The bank cannot give a meaningful k-NN accuracy (one class only)."""


def check_ks(ks: Sequence[int], bank_size: int) -> None:
    """Every k positive and at most the bank size; checked before any
    feature is extracted (hours on ImageNet)."""
    ks = sorted({int(k) for k in ks})
    if not ks or ks[0] < 1:
        raise ValueError(f'ks must be positive integers, got {ks}')
    if ks[-1] > bank_size:
        raise ValueError(f'k={ks[-1]} exceeds the bank size {bank_size}: '
                         f'use ks <= {bank_size} or a larger bank')


def warn_single_class(bank_labels: Tensor) -> None:
    """Warn when the bank holds one class: every query gets that class."""
    classes = torch.unique(bank_labels)
    if classes.numel() == 1:
        warnings.warn(
            f'the k-NN bank holds one class only (label '
            f'{int(classes[0])}): every query is predicted as it; use a '
            'bank with every class (a first-N subset of a class-sorted '
            'dataset has one)', KNNBankWarning, stacklevel=2)


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
        chunk_size: queries per similarity block (memory: chunk x M). The
            search runs on the bank's device; the counts stay there until
            the end (no host sync per chunk).

    Returns:
        ``{k: top-1 accuracy in percent}``.
    """
    check_ks(ks, bank_feats.shape[0])
    ks = sorted({int(k) for k in ks})
    if bank_feats.shape[0] != bank_labels.shape[0] or \
            query_feats.shape[0] != query_labels.shape[0]:
        raise ValueError('features and labels differ in length')
    if query_feats.shape[0] == 0:
        raise ValueError('no query features to classify')
    bank_labels = bank_labels.long()
    query_labels = query_labels.long()
    if num_classes is None:
        num_classes = int(max(bank_labels.max(), query_labels.max())) + 1
    bank = F.normalize(bank_feats.float(), dim=1)
    device = bank.device
    bank_labels = bank_labels.to(device)
    correct = {k: torch.zeros((), dtype=torch.long, device=device)
               for k in ks}
    kmax = ks[-1]
    for start in range(0, query_feats.shape[0], chunk_size):
        q = F.normalize(
            query_feats[start:start + chunk_size].to(device).float(), dim=1)
        y = query_labels[start:start + chunk_size].to(device)
        sim = q @ bank.t()  # (B, M)
        top_sim, top_idx = sim.topk(kmax, dim=1)  # sorted descending
        top_lab = bank_labels[top_idx]  # (B, kmax)
        weight = (top_sim / temperature).exp()
        onehot = F.one_hot(top_lab, num_classes).float() * weight[..., None]
        # cumulative votes: votes of the first k neighbours, all k at once
        votes = onehot.cumsum(dim=1)  # (B, kmax, C)
        for k in ks:
            pred = votes[:, k - 1].argmax(dim=1)
            correct[k] += (pred == y).sum()
    n = query_feats.shape[0]
    return {k: 100.0 * int(correct[k]) / n for k in ks}


def gather_features(feats: Tensor, labels: Tensor, indices: Tensor,
                    dst: Optional[int] = None
                    ) -> Optional[Tuple[Tensor, Tensor]]:
    """Gather rank-local (feats, labels, dataset indices) onto every rank
    (``dst=None``, :func:`mmengine.dist.all_gather_object`) or onto rank
    ``dst`` only (:func:`mmengine.dist.gather_object`; the other ranks get
    None and hold no copy of the set).

    Shards may differ in length; duplicates (samplers pad the last shard)
    are dropped and the result is sorted by dataset index, so it equals a
    single-process extraction. The result is on the CPU.
    """
    if dist.get_world_size() == 1:
        order = torch.argsort(indices)
        return feats[order].cpu(), labels[order].cpu()
    shard = (feats.float().cpu(), labels.long().cpu(), indices.long().cpu())
    if dst is None:
        shards = dist.all_gather_object(shard)
    else:
        shards = dist.gather_object(shard, dst)
        if dist.get_rank() != dst:
            return None
    f, lab, idx = (torch.cat(parts) for parts in zip(*shards))
    del shards
    _, first = _unique_first(idx)
    return f[first], lab[first]


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
def extract_batch_features(model: nn.Module, batch: dict,
                           names: Sequence[str]
                           ) -> Tuple[Dict[str, Tensor], Tensor]:
    """Features ``{name: (B, D) fp32}`` and labels (B,) of one collated
    batch, on the model's device. On a GPU the backbone runs under bf16
    autocast (the features are cast back to fp32)."""
    data = model.data_preprocessor(batch, False)
    inputs = data['inputs']
    if isinstance(inputs, (list, tuple)):
        inputs = inputs[0]
    device = inputs.device.type
    with torch.autocast(device, dtype=torch.bfloat16,
                        enabled=device == 'cuda'):
        if len(names) == 1:
            out = {names[0]: backbone_features(model.backbone, inputs,
                                               names[0])}
        else:
            both = backbone_features(model.backbone, inputs, 'cls_gap')
            d = both.shape[1] // 2
            parts = dict(cls=both[:, :d], gap=both[:, d:], cls_gap=both)
            out = {n: parts[n] for n in names}
    labels = torch.cat([ds.gt_label.view(-1)[:1]
                        for ds in data['data_samples']]).to(inputs.device)
    return {n: f.float() for n, f in out.items()}, labels


@torch.no_grad()
def extract_features(model: nn.Module,
                     dataset,
                     feature: Union[str, Sequence[str]] = 'gap',
                     batch_size: int = 256,
                     num_workers: int = 0,
                     gather: Union[bool, int] = True,
                     progress: bool = False,
                     desc: str = 'features'):
    """Features and labels of ``dataset`` with ``model``'s backbone.

    ``model`` must have ``data_preprocessor`` and ``backbone`` (any
    mmpretrain model, SemAIM included). Every rank extracts its own shard
    (:func:`shard_indices`). ``gather``: True, the full, index-ordered set
    on every rank; a rank number, on that rank only (None elsewhere);
    False, this rank's shard. ``feature`` may be a list: then a dict
    ``{feature: (feats, labels)}`` is returned from one pass. Features
    are kept on the CPU.
    """
    from mmengine.dataset import default_collate
    from torch.utils.data import DataLoader, Subset
    names = [feature] if isinstance(feature, str) else list(feature)
    idx = shard_indices(len(dataset))
    loader = DataLoader(
        Subset(dataset, idx), batch_size=batch_size, shuffle=False,
        num_workers=num_workers, collate_fn=default_collate,
        pin_memory=torch.cuda.is_available())
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
            out, lab = extract_batch_features(model, batch, names)
            for n in names:
                feats[n].append(out[n].cpu())
            labels.append(lab.cpu())
    finally:
        model.train(was_training)
    labels = torch.cat(labels) if labels else torch.zeros(0, dtype=torch.long)
    index = torch.as_tensor(idx, dtype=torch.long)
    result = {}
    for n in names:
        f = torch.cat(feats[n]) if feats[n] else torch.zeros(0, 1)
        if gather is False:
            result[n] = (f, labels)
        else:
            result[n] = gather_features(
                f, labels, index, dst=None if gather is True else gather)
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
            progress: bool = False,
            chunk_size: int = 1024) -> Dict[str, float]:
    """The whole protocol: every rank extracts its shard of the bank and of
    the queries; both are gathered on rank 0 only, which searches them (on
    the model's GPU when it has one, ``chunk_size`` queries at a time) and
    broadcasts the accuracies. Returns ``{'knn/top1_k10': ..., ...}`` on
    every rank. ``ks`` is checked against the bank size first."""
    check_ks(ks, len(bank_dataset))
    bank = extract_features(model, bank_dataset, feature, batch_size,
                            num_workers, gather=0, progress=progress,
                            desc='k-NN bank')
    query = extract_features(model, query_dataset, feature, batch_size,
                             num_workers, gather=0, progress=progress,
                             desc='k-NN query')
    results = [None]
    if dist.get_rank() == 0:
        warn_single_class(bank[1])
        device = next(model.parameters()).device
        acc = knn_classify(bank[0].to(device), bank[1], query[0].to(device),
                           query[1], ks, temperature,
                           chunk_size=chunk_size)
        del bank, query
        results = [{f'knn/top1_k{k}': v for k, v in acc.items()}]
    if dist.get_world_size() > 1:
        dist.broadcast_object_list(results, src=0)
    return results[0]


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
