"""k-NN: exact values on a hand-computed bank, metric API, and 2 gloo
processes == 1 process."""
import math
import os
import socket

import pytest
import torch
import torch.multiprocessing as mp

from semaim_mm.evaluation import (KNNAccuracy, gather_features, knn_classify,
                                  run_knn)

# Bank on the unit circle (angles in degrees) -> cosines are easy by hand.
BANK_ANGLES = [0., 10., 100., 110., 180.]
BANK_LABELS = [0, 0, 1, 1, 2]


def unit(deg):
    r = math.radians(deg)
    return [math.cos(r), math.sin(r)]


def test_knn_hand_computed():
    bank = torch.tensor([unit(a) for a in BANK_ANGLES]) * 3.0  # norm ignored
    labels = torch.tensor(BANK_LABELS)
    # q0 at 50 deg: neighbours by cosine: 10 (cos40=.766, class 0),
    #   100 (cos50=.643, class 1), 0 (cos50=.643, class 0), 110 (cos60=.5)
    #   k=1 -> class 0 (correct).
    #   k=3 -> votes class0: e^(.766/.07)+e^(.643/.07) = 56,400+9,700;
    #          class1: e^(.643/.07)=9,700 -> class 0 (correct).
    # q1 at 60 deg, label 1: nearest 10 (cos50=.643, class 0) and 100, 110
    #   (cos40=.766, cos50=.643, class 1): k=1 -> 100 -> class 1 (correct).
    # q2 at 140 deg, label 2: nearest 110 (cos30=.866, class 1), 100 (cos40),
    #   180 (cos40=.766, class 2): k=1 -> class 1 (wrong); k=3: class1
    #   e^(.866/.07)+e^(.766/.07) > class2 e^(.766/.07) -> wrong.
    # q3 at 175 deg, label 2: nearest 180 -> class 2 for k=1; k=3: 180
    #   (cos5=.996, class 2) vs 110 (cos65=.423) + 100 (cos75=.259):
    #   e^(14.2) >> e^(6.0)+e^(3.7) -> class 2 (correct): weighting matters,
    #   plain majority vote would say class 1.
    queries = torch.tensor([unit(50), unit(60), unit(140), unit(175)])
    qlabels = torch.tensor([0, 1, 2, 2])
    acc = knn_classify(bank, labels, queries, qlabels, ks=(1, 3),
                       temperature=0.07, num_classes=3)
    assert acc == {1: 75.0, 3: 75.0}
    # with a huge temperature the weights are ~equal: majority vote
    acc_flat = knn_classify(bank, labels, queries, qlabels, ks=(3, ),
                            temperature=1e6, num_classes=3)
    # q3 by majority of {180:2, 110:1, 100:1} -> class 1 -> wrong; q0: {10,0
    # class 0; 100 class 1} -> 0 right; q1: {100,110 class1; 10 class0} ->
    # right; q2: {110,100 class1; 180 class2} -> wrong
    assert acc_flat == {3: 50.0}
    # chunking does not change the result
    assert knn_classify(bank, labels, queries, qlabels, ks=(1, 3),
                        num_classes=3, chunk_size=1) == acc


def test_knn_errors():
    bank, lab = torch.randn(4, 3), torch.arange(4)
    with pytest.raises(ValueError, match='exceeds the bank'):
        knn_classify(bank, lab, bank, lab, ks=(5, ))
    with pytest.raises(ValueError, match='positive'):
        knn_classify(bank, lab, bank, lab, ks=(0, ))


def test_metric_api_single_process():
    bank = torch.tensor([unit(a) for a in BANK_ANGLES])
    metric = KNNAccuracy(ks=(1, 3), num_classes=3)
    metric.set_bank(bank, torch.tensor(BANK_LABELS), gather=False)
    samples = [dict(feat=torch.tensor(unit(a)), gt_label=torch.tensor([y]))
               for a, y in ((50, 0), (60, 1), (140, 2), (175, 2))]
    metric.process(None, samples[:2])
    metric.process(None, samples[2:])
    out = metric.evaluate(4)
    assert out == {'knn/top1_k1': 75.0, 'knn/top1_k3': 75.0}
    with pytest.raises(RuntimeError, match='no bank'):
        m2 = KNNAccuracy()
        m2.process(None, samples)
        m2.evaluate(4)


class TinySet(torch.utils.data.Dataset):
    """Deterministic 'images' (uint8 3x28x28) packed like PackInputs."""

    def __init__(self, n, seed):
        g = torch.Generator().manual_seed(seed)
        self.imgs = torch.randint(0, 256, (n, 3, 28, 28), generator=g,
                                  dtype=torch.uint8)
        self.labels = torch.randint(0, 4, (n, ), generator=g)

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        from mmpretrain.structures import DataSample
        ds = DataSample().set_gt_label(int(self.labels[i]))
        return dict(inputs=self.imgs[i], data_samples=ds)


def tiny_model():
    from mmpretrain.models import ImageClassifier
    torch.manual_seed(0)
    return ImageClassifier(
        backbone=dict(type='SemAIMViT', arch=dict(
            embed_dims=32, num_layers=2, num_heads=2,
            feedforward_channels=64), img_size=28, patch_size=7),
        data_preprocessor=dict(type='ClsDataPreprocessor', mean=[127.] * 3,
                               std=[64.] * 3)).eval()


def _worker(rank, world, port, out_file):
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port),
                      RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    import torch.distributed as tdist
    import semaim_mm  # noqa: F401
    tdist.init_process_group('gloo', rank=rank, world_size=world)
    try:
        model = tiny_model()
        res = run_knn(model, TinySet(37, 1), TinySet(23, 2), ks=(1, 5, 10),
                      feature='gap', batch_size=8)
        # gather_features with unequal shards keeps every index once
        f = torch.arange(rank, 11, world).float()[:, None]
        gf, gl = gather_features(f, f[:, 0].long(),
                                 torch.arange(rank, 11, world))
        assert gf[:, 0].tolist() == list(range(11))
        # gathered on rank 0 only: the other ranks hold no copy
        only = gather_features(f, f[:, 0].long(),
                               torch.arange(rank, 11, world), dst=0)
        if rank == 0:
            assert only[0][:, 0].tolist() == list(range(11))
        else:
            assert only is None
        if rank == 0:
            torch.save(res, out_file)
    finally:
        tdist.destroy_process_group()


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def test_two_gloo_processes_equal_one(tmp_path):
    single = run_knn(tiny_model(), TinySet(37, 1), TinySet(23, 2),
                     ks=(1, 5, 10), feature='gap', batch_size=8)
    out = str(tmp_path / 'res.pt')
    mp.start_processes(_worker, args=(2, _free_port(), out), nprocs=2,
                       join=True, start_method='spawn')
    double = torch.load(out)
    assert set(single) == {'knn/top1_k1', 'knn/top1_k5', 'knn/top1_k10'}
    assert double == pytest.approx(single, abs=1e-9)


def test_knn_eval_hook_logs_accuracies():
    from unittest import mock

    from mmengine.logging import MessageHub

    from semaim_mm.evaluation import KNNEvalHook
    hook = KNNEvalHook(TinySet(20, 1), TinySet(10, 2), interval=2,
                       by_epoch=False, ks=(1, 3), batch_size=8)
    runner = mock.MagicMock()
    runner.model = tiny_model()
    runner.iter = 1  # every_n_train_iters looks at runner.iter + 1
    runner.message_hub = MessageHub.get_instance('knn_hook_test')
    hook.after_train_iter(runner, 0)
    expected = run_knn(tiny_model(), TinySet(20, 1), TinySet(10, 2),
                       ks=(1, 3), batch_size=8)
    assert hook.last == expected
    assert runner.message_hub.get_scalar(
        'train/knn/top1_k3').current() == expected['knn/top1_k3']
    runner.visualizer.add_scalars.assert_called_once()
    hook.last = {}
    runner.iter = 2  # not a multiple of the interval: nothing
    hook.after_train_iter(runner, 0)
    assert hook.last == {}


def test_bank_of_one_class_warns():
    from semaim_mm.evaluation import KNNBankWarning
    bank = TinySet(12, 1)
    bank.labels.zero_()
    with pytest.warns(KNNBankWarning, match='one class only'):
        run_knn(tiny_model(), bank, TinySet(5, 2), ks=(1, ), batch_size=8)


def test_k_above_the_bank_fails_before_any_feature(monkeypatch):
    import semaim_mm.evaluation.knn as knn
    monkeypatch.setattr(knn, 'extract_features', lambda *a, **k: 1 / 0)
    with pytest.raises(ValueError, match='k=50 exceeds the bank size 20'):
        run_knn(tiny_model(), TinySet(20, 1), TinySet(5, 2), ks=(10, 50))
