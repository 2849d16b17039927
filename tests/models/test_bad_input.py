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


def test_order_schedule_validation_and_switch():
    from mmengine.logging import MessageHub
    with pytest.raises(ValueError, match='order_schedule must start'):
        tiny_semaim(32, 8, order_schedule=[dict(begin=2, order='raster')])
    model = tiny_semaim(32, 8, order_schedule=[
        dict(begin=0, order='stochastic'), dict(begin=3, order='semantic')])
    hub = MessageHub.get_current_instance()
    hub.update_info('epoch', 0)
    assert type(model.current_order()).__name__ == 'StochasticOrder'
    hub.update_info('epoch', 3)
    assert type(model.current_order()).__name__ == 'SemanticOrder'
    hub.update_info('epoch', 0)
