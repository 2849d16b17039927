"""Bad input gets a ValueError that names the fix."""
import pytest
from mmpretrain.registry import MODELS

from .helpers import images, tiny_semaim


def test_image_size_not_divisible_by_patch_size():
    with pytest.raises(ValueError, match='not divisible by patch_size'):
        MODELS.build(dict(type='SemAIMViT', arch='tiny', img_size=225,
                          patch_size=16))
    model = tiny_semaim(32, 8)
    with pytest.raises(ValueError, match='not divisible by the patch size'):
        model.loss(images(1, (36, 32)))


@pytest.mark.parametrize('depth', [0, 5])
def test_decoder_depth_out_of_range(depth):
    with pytest.raises(ValueError, match='decoder depth must be between 1'):
        tiny_semaim(32, 8, depth=4, decoder_depth=depth)


def test_unknown_order_and_path_and_source():
    with pytest.raises(ValueError, match='unknown order'):
        tiny_semaim(32, 8, order='spiral')
    with pytest.raises(ValueError, match='attention path'):
        tiny_semaim(32, 8, attention_path='flash')
    with pytest.raises(ValueError, match='similarity_source'):
        tiny_semaim(32, 8, similarity_source='teacher-x')


@pytest.mark.parametrize('channels', [1, 4])
def test_gray_or_rgba_input_where_rgb_is_configured(channels):
    model = tiny_semaim(32, 8)
    with pytest.raises(ValueError, match='convert grayscale/RGBA'):
        model.loss(images(1, (32, 32), channels=channels))



def _build(neck=None, head=None, target=None):
    cfg = dict(
        type='SemAIM',
        backbone=dict(type='SemAIMViT',
                      arch=dict(embed_dims=32, num_layers=3, num_heads=4,
                                feedforward_channels=64),
                      img_size=32, patch_size=8),
        neck=dict(type='SemAIMDecoder', **(neck or {})),
        head=dict(type='SemAIMHead', **(head or {})))
    if target is not None:
        cfg['target_generator'] = dict(type='RGBTargetGenerator', **target)
    return MODELS.build(cfg)


def test_parts_filled_from_the_backbone():
    model = _build(target=dict(blur_kernel=3))
    assert model.neck.encoder_depth == 3 and len(model.neck.blocks) == 3
    attn = model.neck.blocks[0].attn
    assert attn.num_heads == 4 and attn.q.in_features == 32
    assert model.head.mlp.fc1.in_features == 32
    assert model.target_generator.patch_size == 8
    assert model.head.mlp.fc2.out_features == 8 * 8 * 3
    # legitimate choices are honoured: other decoder heads, a shallower one
    model = _build(neck=dict(num_heads=2, depth=1))
    assert model.neck.blocks[0].attn.num_heads == 2
    assert len(model.neck.blocks) == 1


@pytest.mark.parametrize('part, key, wrong, right', [
    ('neck', 'embed_dims', 64, 32),
    ('neck', 'encoder_depth', 12, 3),
    ('head', 'embed_dims', 64, 32),
    ('head', 'target_dim', 10, 8 * 8 * 3),
    ('target', 'patch_size', 16, 8),
    ('target', 'in_channels', 1, 3),
])
def test_a_fact_given_differently_is_an_error_naming_it(part, key, wrong,
                                                        right):
    name = 'target_generator' if part == 'target' else part
    with pytest.raises(ValueError,
                       match=rf'{name}\.{key}={wrong}.*leave {name}\.{key}'):
        _build(**{part: {key: wrong}})
    _build(**{part: {key: right}})  # the same value, spelled out, is fine
