"""Peak CPU memory (max RSS) of one training step (loss + backward) of a
detection config at batch 1, on random data with a few boxes and masks.

    python tools/analysis_tools/det_peak_memory.py \
        configs/det/semaim_vitb_mask-rcnn_fpn_100e_coco.py --size 1024 [--with-cp]
"""
import argparse
import resource
import time

import torch


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('config')
    p.add_argument('--size', type=int, default=1024)
    p.add_argument('--with-cp', action='store_true')
    args = p.parse_args()
    import semaim_mm  # noqa: F401
    import semaim_mm.det  # noqa: F401
    from mmdet.registry import MODELS
    from mmdet.structures import DetDataSample
    from mmdet.structures.mask import BitmapMasks
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmengine.structures import InstanceData
    cfg = Config.fromfile(args.config)
    init_default_scope('mmdet')
    cfg.model.backbone.init_cfg = None
    cfg.model.backbone.with_cp = args.with_cp
    torch.manual_seed(0)
    model = MODELS.build(cfg.model).train()
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    s = args.size
    img = torch.randn(1, 3, s, s)
    sample = DetDataSample(metainfo=dict(img_shape=(s, s), pad_shape=(s, s),
                                         batch_input_shape=(s, s)))
    boxes = torch.tensor([[10., 20., s / 2, s / 3], [s / 4, s / 4, s - 5,
                                                      s - 9]])
    masks = torch.zeros(2, s, s, dtype=torch.uint8)
    for m, b in zip(masks, boxes.long()):
        m[b[1]:b[3], b[0]:b[2]] = 1
    sample.gt_instances = InstanceData(
        bboxes=boxes, labels=torch.tensor([1, 2]),
        masks=BitmapMasks(masks.numpy(), s, s))
    t = time.time()
    losses = model.loss(img, [sample])
    loss, _ = model.parse_losses(losses)
    loss.backward()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f'size {s} with_cp {args.with_cp}: loss {loss.item():.3f}, '
          f'step {time.time() - t:.1f} s, peak RSS {peak:.0f} MiB '
          f'(model built: {base:.0f} MiB)')


if __name__ == '__main__':
    main()
