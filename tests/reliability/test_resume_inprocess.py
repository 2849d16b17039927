"""Exact resume, checkpoint pruning and the NaN guard on a toy runner
(in-process; the SIGKILL / real-config versions are in test_sigkill.py)."""
import os
import os.path as osp

import pytest
import torch
from mmengine.logging import MessageHub

from semaim_mm.engine import (NonFiniteLossError, ResumableSampler,
                              checkpoint_problem)

from .toy import make_runner


@pytest.fixture(autouse=True)
def _fresh_hub():
    # mmengine keeps global instances; give each runner a clean slate.
    yield
    MessageHub._instance_dict.clear()


def run(tmp_path, name, **kw):
    losses = {}
    runner = make_runner(tmp_path / name, losses, **kw)
    try:
        runner.train()
    except KeyboardInterrupt:
        pass
    return losses, runner


def final_weights(path):
    return torch.load(path, map_location='cpu')['state_dict']


@pytest.mark.parametrize('mode', ['iter', 'epoch'])
def test_mid_epoch_resume_is_exact(tmp_path, mode):
    # 20 samples / batch 3 = 7 iterations per epoch; checkpoint every 3
    # iterations, crash at iteration 11 (epoch 1, batch 4): the resume from
    # iter_9.pth starts mid-epoch (epoch 1, batch 2).
    kw = dict(iters=17) if mode == 'iter' else dict(epochs=3)
    ref, _ = run(tmp_path, 'ref', **kw)
    part, _ = run(tmp_path, 'run', stop_at=11, **kw)
    assert max(part) == 10 and osp.isfile(tmp_path / 'run' / 'iter_9.pth')
    rest, _ = run(tmp_path, 'run', resume=True, **kw)
    assert min(rest) == 9  # resumed from iter_9.pth, mid-epoch
    assert len(ref) == 21 if mode == 'epoch' else 17
    for it, loss in rest.items():
        assert loss == pytest.approx(ref[it], abs=1e-6), it
    last = max(ref) + 1
    a = final_weights(tmp_path / 'ref' / f'iter_{last - last % 3}.pth')
    b = final_weights(tmp_path / 'run' / f'iter_{last - last % 3}.pth')
    for k in a:
        assert torch.allclose(a[k], b[k], atol=1e-6), k


def test_resume_without_resumable_sampler_is_not_exact(tmp_path):
    # The control: mmengine's DefaultSampler restarts the epoch, so the
    # losses after an epoch-loop mid-epoch resume differ.
    ref, _ = run(tmp_path, 'ref', epochs=2, sampler='DefaultSampler')
    run(tmp_path, 'run', epochs=2, stop_at=11, sampler='DefaultSampler')
    rest, _ = run(tmp_path, 'run', epochs=2, resume=True,
                  sampler='DefaultSampler')
    assert any(abs(rest[i] - ref[i]) > 1e-6 for i in rest)


def test_truncated_latest_checkpoint_is_skipped(tmp_path, caplog):
    ref, _ = run(tmp_path, 'ref', iters=12)
    run(tmp_path, 'run', iters=12, stop_at=10)
    wd = tmp_path / 'run'
    assert sorted(os.listdir(wd)).count('iter_9.pth') == 1
    # simulate a crash while writing iter_9 without the atomic shim
    data = (wd / 'iter_9.pth').read_bytes()
    (wd / 'iter_9.pth').write_bytes(data[:len(data) // 2])
    (wd / '.iter_12.pth.tmp-abc').write_bytes(b'partial')
    assert 'truncated' in checkpoint_problem(str(wd / 'iter_9.pth'))
    rest, _ = run(tmp_path, 'run', iters=12, resume=True)
    assert min(rest) == 6  # fell back to iter_6.pth
    for it, loss in rest.items():
        assert loss == pytest.approx(ref[it], abs=1e-6)
    assert not (wd / '.iter_12.pth.tmp-abc').exists()
    assert (wd / 'last_checkpoint').read_text().endswith('iter_12.pth')


def test_explicit_truncated_resume_is_a_clear_error(tmp_path):
    run(tmp_path, 'run', iters=6)
    p = tmp_path / 'run' / 'iter_6.pth'
    p.write_bytes(p.read_bytes()[:1000])
    with pytest.raises(RuntimeError, match='truncated.*iter_3.pth'):
        run(tmp_path, 'run', iters=9, resume=True, load_from=str(p))


def test_max_keep_and_prune_after_save(tmp_path):
    run(tmp_path, 'run', iters=15, max_keep=2)
    names = sorted(f for f in os.listdir(tmp_path / 'run')
                   if f.endswith('.pth'))
    assert names == ['iter_12.pth', 'iter_15.pth']
    assert not [f for f in os.listdir(tmp_path / 'run') if '.tmp-' in f]
    # resume then continue: the pruning list survives the restart
    run(tmp_path, 'run', iters=21, resume=True, max_keep=2)
    names = sorted(f for f in os.listdir(tmp_path / 'run')
                   if f.endswith('.pth'))
    assert names == ['iter_18.pth', 'iter_21.pth']


def test_resume_uses_weights_only_loading(tmp_path, monkeypatch):
    # torch >= 2.6 defaults to weights_only=True; make sure nothing forces
    # the unsafe path and that a real checkpoint loads that way.
    monkeypatch.delenv('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', raising=False)
    run(tmp_path, 'run', iters=3)
    ckpt = torch.load(tmp_path / 'run' / 'iter_3.pth', weights_only=True)
    assert {'meta', 'state_dict', 'optimizer', 'message_hub'} <= set(ckpt)
    loads = []
    orig = torch.load

    def spy(*a, **k):
        loads.append(k.get('weights_only'))
        return orig(*a, **k)

    monkeypatch.setattr(torch, 'load', spy)
    rest, _ = run(tmp_path, 'run', iters=6, resume=True)
    assert min(rest) == 3 and loads and all(w in (None, True) for w in loads)


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tmp_path):
    with pytest.raises(NonFiniteLossError,
                       match=r'iteration 8 .*iter_6\.pth'):
        run(tmp_path, 'run', iters=12, nan_at={7})
    wd = tmp_path / 'run'
    assert (wd / 'last_checkpoint').read_text().endswith('iter_6.pth')
    sd = final_weights(wd / 'iter_6.pth')
    assert all(torch.isfinite(v).all() for v in sd.values())


def test_nan_loss_skip_mode(tmp_path):
    losses, runner = run(tmp_path, 'run', iters=9, nan_at={2, 5},
                         nan_action='skip')
    hook = [h for h in runner.hooks
            if type(h).__name__ == 'NonFiniteLossHook'][0]
    assert hook.skipped == 2
    sd = final_weights(tmp_path / 'run' / 'iter_9.pth')
    assert all(torch.isfinite(v).all() for v in sd.values())
    with pytest.raises(NonFiniteLossError, match='3 steps in a row'):
        run(tmp_path, 'run2', iters=9, nan_at={2, 3, 4},
            nan_action='skip')


def test_nan_weights_are_never_saved(tmp_path):
    from mmengine.hooks import Hook

    class Poison(Hook):
        priority = 'VERY_HIGH'

        def after_train_iter(self, runner, batch_idx, data_batch=None,
                             outputs=None):
            if runner.iter == 4:
                runner.model.lin.weight.data.fill_(float('nan'))

    with pytest.raises(FloatingPointError, match='NaN/Inf.*iter_3.pth'):
        run(tmp_path, 'run', iters=9, extra_hooks=[Poison()])
    assert not (tmp_path / 'run' / 'iter_6.pth').exists()


def test_resumable_sampler_skip():
    ds = list(range(10))
    s = ResumableSampler(ds, shuffle=True, seed=3)
    s.set_epoch(2)
    full = list(s)
    s.skip(4, epoch=2)
    s.set_epoch(0)  # DistSamplerSeedHook may do this: the pin wins
    assert list(s) == full[4:]
    assert list(s) == full  # the skip applies once
    assert len(s) == 10
    with pytest.raises(ValueError):
        s.skip(-1)


def test_prune_keeps_complete_checkpoints_while_a_kept_one_is_broken(
        tmp_path):
    from mmengine.hooks import Hook

    class Truncate(Hook):  # the disk damages iter_6.pth after it was saved
        priority = 'LOWEST'

        def after_train_iter(self, runner, batch_idx, data_batch=None,
                             outputs=None):
            if runner.iter == 7:
                p = tmp_path / 'run' / 'iter_6.pth'
                p.write_bytes(p.read_bytes()[:500])

    run(tmp_path, 'run', iters=9, max_keep=2, extra_hooks=[Truncate()])
    names = sorted(f for f in os.listdir(tmp_path / 'run')
                   if f.endswith('.pth'))
    # max_keep=2 would keep iter_6 (broken) and iter_9 and delete iter_3:
    # the complete iter_3 stays.
    assert names == ['iter_3.pth', 'iter_6.pth', 'iter_9.pth']
    assert checkpoint_problem(str(tmp_path / 'run' / 'iter_3.pth')) is None
