"""The checkpoints the authors' code writes (../shared/fixtures/
semaim_reference: main_pretrain.py under torch.distributed and in one
process, util/misc.py save_model): conversion through the CLI and the
loaders, the authors' loss and similarity map after conversion, the bit-exact
way back, the lossy-norm warning and the blur-kernel check."""
import json
import os.path as osp
import pickle
import subprocess
import sys

import pytest
import torch

from fp32_tolerance import assert_close_across_hosts, fp32_relative_error
from semaim_mm.checkpoints import (BLUR_KEY, load_encoder_state_dict,
                                   read_checkpoint, reference_to_semaim,
                                   semaim_to_reference, state_dict_of)
from semaim_mm.models.orders import Permutation

from .helpers import reference_semaim

LAYOUTS = ('main_pretrain_ddp.pth', 'main_pretrain_1proc.pth',
           'misc_save_model.pth')
# The authors' loss and map were computed on another host. Their chains of
# products (expected.json's model: width 64, 2 heads, 196 patches): the
# 16x16x3 patch embedding, 4 encoder blocks (qkv 64, scores 32, scores @ v
# over 197 tokens, proj 64, fc1 64, fc2 256); the map's cosine over 64; the
# loss adds 2 decoder blocks, the head (64, 256) and the mean of 196 x 768
# squared errors.
ENCODER = [3 * 16 * 16] + 4 * [64, 32, 197, 64, 64, 256]
SIMILARITY = ENCODER + [64]
LOSS = ENCODER + 2 * [64, 32, 197, 64, 64, 256] + [64, 256, 196 * 768]


@pytest.fixture(scope='module')
def expected(semaim_reference):
    with open(osp.join(semaim_reference, 'expected.json')) as f:
        return json.load(f)


@pytest.fixture(scope='module')
def forward(semaim_reference):
    return torch.load(osp.join(semaim_reference, 'forward.pt'),
                      map_location='cpu', weights_only=True)


def authors_state_dict(folder, name='main_pretrain_1proc.pth'):
    """The original state dict, as the authors' code saved it."""
    ckpt = read_checkpoint(osp.join(folder, name))
    return ckpt['state_dict'] if 'state_dict' in ckpt else ckpt['model']


def run_cli(args, env, check=True):
    return subprocess.run(
        [sys.executable, 'tools/model_converters/semaim_reference.py',
         *map(str, args)], env=env, capture_output=True, text=True,
        check=check, cwd=osp.dirname(osp.dirname(osp.dirname(__file__))))


@pytest.mark.parametrize('layout', LAYOUTS)
def test_every_layout_converts_with_the_cli_and_the_loaders(
        semaim_reference, expected, layout, tmp_path, python_env):
    src = osp.join(semaim_reference, layout)
    raw = read_checkpoint(src)
    sd = raw['state_dict'] if 'state_dict' in raw else raw['model']
    assert len(sd) == expected['state_dict_keys']
    assert any(k.endswith(BLUR_KEY) for k in sd)
    if layout == 'misc_save_model.pth':  # the Namespace came back as data
        assert raw['args'].model == 'aim_base'
    out = tmp_path / 'ours.pth'
    run_cli([src, out], python_env)
    converted = torch.load(out, map_location='cpu')['state_dict']
    ref = reference_to_semaim(state_dict_of(raw))
    assert converted.keys() == ref.keys()
    assert all(torch.equal(converted[k], ref[k]) for k in ref)
    model = reference_semaim(expected)
    model.load_state_dict(converted, strict=True)
    # The encoder loaders read the same file directly.
    enc, kind = load_encoder_state_dict(src)
    assert kind == 'reference'
    own = model.backbone.state_dict()
    assert enc.keys() == own.keys()
    assert all(torch.equal(enc[k], own[k]) for k in own)


@pytest.fixture(scope='module')
def converted(semaim_reference):
    return reference_to_semaim(
        state_dict_of(read_checkpoint(
            osp.join(semaim_reference, 'main_pretrain_ddp.pth'))))


@pytest.mark.parametrize('path', ['fast', 'reference'])
def test_converted_model_gives_the_authors_loss_and_similarity(
        expected, forward, converted, path):
    model = reference_semaim(expected, attention_path=path)
    model.load_state_dict(converted, strict=True)
    model.train()  # as the authors' loss was computed (no drop path)
    permutation = Permutation.from_centerness(forward['centerness'])
    assert torch.equal(permutation.perm, forward['order'])
    with torch.no_grad():
        loss = model.loss(forward['inputs'],
                          permutation=permutation)['loss']
        similarity = model.similarity(forward['inputs'])
    torch.testing.assert_close(loss, torch.tensor(expected['loss']),
                               rtol=fp32_relative_error(LOSS), atol=0)
    assert_close_across_hosts(similarity, forward['similarity'], SIMILARITY)


# Two CLI runs per layout (about 20 s each on the slow host): one layout in
# `make test`, the other two in `make test-slow`.
@pytest.mark.parametrize('layout,ddp', [
    pytest.param('main_pretrain_1proc.pth', False, marks=pytest.mark.slow),
    pytest.param('main_pretrain_ddp.pth', True, marks=pytest.mark.slow),
    ('misc_save_model.pth', False)])
def test_to_reference_reproduces_the_authors_state_dict(
        semaim_reference, layout, ddp, tmp_path, python_env):
    original = authors_state_dict(semaim_reference, layout)
    ours, back = tmp_path / 'ours.pth', tmp_path / 'back.pth'
    run_cli([osp.join(semaim_reference, layout), ours], python_env)
    run_cli([ours, back, '--to-reference'] + (['--ddp-prefix'] if ddp else
                                              []), python_env)
    written = torch.load(back, map_location='cpu', weights_only=True)
    assert list(written) == ['state_dict']  # what main_pretrain.py resumes
    sd = written['state_dict']
    assert list(sd) == list(original)  # AimViT's own key order
    for key, value in original.items():
        assert sd[key].dtype == value.dtype and torch.equal(sd[key], value), \
            key


def test_norm_warning_names_both_tensors_and_the_choice(
        converted, tmp_path, python_env):
    sd = dict(converted)
    sd['head.norm.weight'] = sd['head.norm.weight'] + 0.25
    with pytest.warns(UserWarning,
                      match=r'backbone\.ln1 and head\.norm differ \(max '
                      r'\|difference\| 0\.25\).*--norm-from encoder'):
        ref = semaim_to_reference(sd)
    assert torch.equal(ref['norm.weight'], sd['head.norm.weight'])
    with pytest.warns(UserWarning, match='--norm-from head'):
        ref = semaim_to_reference(sd, norm_from='encoder')
    assert torch.equal(ref['norm.weight'], sd['backbone.ln1.weight'])
    src = tmp_path / 'ours.pth'
    torch.save(dict(state_dict=sd), src)
    out = run_cli([src, tmp_path / 'ref.pth', '--to-reference'], python_env)
    assert 'head.norm differ (max |difference| 0.25)' in out.stderr
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        semaim_to_reference(converted)  # equal norms: silent


def test_other_blur_kernel_is_an_error_naming_the_config(
        semaim_reference, tmp_path, python_env):
    from semaim_mm.checkpoints import reference_blur_kernel
    sd = authors_state_dict(semaim_reference)
    sd[BLUR_KEY] = reference_blur_kernel(7, 2)
    with pytest.raises(ValueError,
                       match=r'7x7 Gaussian of sigma ~2\b.*model\.target_'
                       r'generator\.blur_kernel=7 and model\.target_generator'
                       r'\.blur_sigma=2'):
        reference_to_semaim(sd)
    ours = reference_to_semaim(sd, blur=(7, 2.0))  # the matching model
    assert BLUR_KEY not in ours and 'backbone.ln1.weight' in ours
    src = tmp_path / 'ref7.pth'
    torch.save(dict(state_dict=sd), src)
    out = run_cli([src, tmp_path / 'o.pth'], python_env, check=False)
    assert out.returncode != 0 and 'Traceback' not in out.stderr
    assert out.stderr.strip().splitlines()[-1].startswith(
        'error: gaussian_blur.weight is a 7x7 Gaussian')
    run_cli([src, tmp_path / 'o.pth', '--blur-kernel', 7, '--blur-sigma',
             2], python_env)


def test_checkpoint_reader_executes_nothing(tmp_path):
    class Payload:

        def __reduce__(self):
            return (print, ('pwned', ))

    path = tmp_path / 'evil.pth'
    torch.save(dict(state_dict={}, args=Payload()), path)
    with pytest.raises(pickle.UnpicklingError, match='Weights only load'):
        read_checkpoint(str(path))
