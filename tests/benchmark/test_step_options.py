"""The step options the benchmark exercises: the timed step computes the
model's own loss, grad checkpointing and torch.compile change nothing."""
import pytest
import torch

from semaim_mm.profiling import benchmark as bm
from semaim_mm.profiling.phases import PhaseTimer

from .helpers import images, tiny_semaim


def _loss_and_grads(model, x, seed=1):
    torch.manual_seed(seed)
    loss = model.loss(x)['loss']
    loss.backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters()
             if p.grad is not None}
    model.zero_grad(set_to_none=True)
    return loss.detach(), grads


@pytest.mark.parametrize('path', ['fast', 'reference'])
def test_timed_step_is_the_model_loss(path):
    """The phases are timed inside ``SemAIM.loss``: a timer changes nothing
    and the timed step's loss is the model's."""
    model = tiny_semaim(attention_path=path)
    x = images(2, (32, 32))
    torch.manual_seed(3)
    expected = model.loss(x)['loss']
    torch.manual_seed(3)
    with PhaseTimer('cpu') as timer:
        got = model.loss(x)['loss']
    assert torch.equal(got, expected)
    assert set(timer.seconds) == {'similarity', 'targets', 'encoder',
                                  'decoder_head'}
    assert 0 < sum(timer.seconds.values()) <= timer.total
    opt = bm.make_optimizer(model, 'cpu')
    torch.manual_seed(3)
    res = bm.timed_step(model, opt, x)
    assert res['loss'] == float(expected)
    assert set(bm.PHASES) <= set(res) and res['total'] > 0


@pytest.mark.parametrize('path', ['fast', 'reference'])
def test_grad_checkpointing_same_loss_and_grads(path):
    kw = dict(attention_path=path)
    # drop path on: checkpointing must replay the same random masks
    plain = tiny_semaim(backbone_extra=dict(drop_path_rate=0.2),
                        neck_extra=dict(drop_path_rate=0.2), **kw).double()
    ckpt = tiny_semaim(
        backbone_extra=dict(drop_path_rate=0.2, with_cp=True),
        neck_extra=dict(drop_path_rate=0.2, with_cp=True),
        **kw).double()
    ckpt.load_state_dict(plain.state_dict())
    x = images(2, (32, 32)).double()
    l0, g0 = _loss_and_grads(plain, x)
    l1, g1 = _loss_and_grads(ckpt, x)
    assert torch.equal(l0, l1)
    assert g0.keys() == g1.keys() and len(g0) > 10
    for n in g0:
        torch.testing.assert_close(g1[n], g0[n], rtol=1e-12, atol=1e-14,
                                   msg=n)


def _compiled_matches_eager(backend):
    eager = tiny_semaim(depth=1, decoder_depth=1)
    compiled = tiny_semaim(depth=1, decoder_depth=1,
                           compile=dict(backend=backend))
    compiled.load_state_dict(eager.state_dict())
    assert compiled.state_dict().keys() == eager.state_dict().keys()
    x = images(2, (32, 32))
    l0, g0 = _loss_and_grads(eager, x)
    l1, g1 = _loss_and_grads(compiled, x)
    torch.testing.assert_close(l1, l0, rtol=1e-5, atol=1e-6)
    for n in g0:
        torch.testing.assert_close(g1[n], g0[n], rtol=1e-4, atol=1e-5,
                                   msg=n)


def test_compile_flag_same_loss_dynamo():
    """compile=True plumbing (dynamo graph capture, no code generation):
    fast, runs everywhere torch.compile does."""
    _compiled_matches_eager('eager')


def _have_cpp_compiler():
    import shutil
    return any(shutil.which(c) for c in ('g++', 'c++', 'clang++'))


@pytest.mark.slow
@pytest.mark.skipif(not _have_cpp_compiler(),
                    reason='inductor needs a C++ compiler on CPU')
def test_compile_flag_same_loss_inductor():
    """The default backend (inductor, C++ code generation on CPU); slow:
    compiling takes a minute or more on a small shared CPU."""
    _compiled_matches_eager('inductor')
