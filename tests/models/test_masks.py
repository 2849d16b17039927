"""Mask semantics of the paper (Eq. 7 and 9) and causality, checked through
the model's outputs on both attention paths."""
import pytest
import torch

from semaim_mm.models import Permutation, autoregressive_masks

from .helpers import images, tiny_semaim


def test_reference_masks_follow_the_paper():
    centerness = torch.tensor([[0.3, 0.1, 0.2, 0.0]])
    permutation = Permutation.from_centerness(centerness)
    enc, dec = autoregressive_masks(permutation.rank.float())
    allowed_e, allowed_d = enc[0, 0] == 0, dec[0, 0] == 0
    # CLS attends only to itself; every patch attends to CLS.
    assert allowed_e[0].tolist() == [True, False, False, False, False]
    assert allowed_d[0].tolist() == [True, False, False, False, False]
    assert allowed_e[1:, 0].all() and allowed_d[1:, 0].all()
    first = int(permutation.perm[0, 0]) + 1  # token index of the first patch
    # The first patch is predicted from CLS alone.
    assert allowed_d[first].nonzero().flatten().tolist() == [0]
    r = permutation.rank[0]
    for i in range(4):
        for j in range(4):
            assert bool(allowed_e[i + 1, j + 1]) == bool(r[i] >= r[j])
            assert bool(allowed_d[i + 1, j + 1]) == bool(r[i] > r[j])
    # No query attends to itself in the decoder.
    assert not allowed_d[1:, 1:].diagonal().any()


@pytest.mark.parametrize('path', ['fast', 'reference'])
def test_prediction_never_sees_its_own_or_later_patches(path):
    """Change the pixels of the patch at order position t: predictions at
    positions <= t must not move, later ones must."""
    patch = 4
    model = tiny_semaim((16, 20), patch, depth=2, decoder_depth=2,
                        order='semantic').double().eval()
    model.attention_path = path
    x = images(2, (16, 20), dtype=torch.float64)
    permutation = model.make_permutation(x)
    pred = model.predict_patches(x, model.attention_for(permutation))
    if path == 'reference':  # raster predictions -> order positions
        pred = torch.gather(pred, 1,
                            permutation.perm[..., None].expand_as(pred))
    t = 6
    x2 = x.clone()
    for b in range(2):
        idx = int(permutation.perm[b, t])
        r, c = divmod(idx, 20 // patch)
        x2[b, :, r * patch:(r + 1) * patch, c * patch:(c + 1) * patch] += 3.0
    pred2 = model.predict_patches(x2, model.attention_for(permutation))
    if path == 'reference':
        pred2 = torch.gather(pred2, 1,
                             permutation.perm[..., None].expand_as(pred2))
    torch.testing.assert_close(pred2[:, :t + 1], pred[:, :t + 1], rtol=0,
                               atol=1e-12)
    assert (pred2[:, t + 1:] - pred[:, t + 1:]).abs().amax() > 1e-6
