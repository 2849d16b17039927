"""Extract the encoder of a SemAIM pre-training checkpoint for fine-tuning.

    python tools/model_converters/semaim_to_backbone.py CKPT OUT.pth [--grid 64 64]

OUT holds ``state_dict`` with mmpretrain ``VisionTransformer`` keys and no
prefix: load it with ``init_cfg=dict(type='Pretrained', checkpoint=OUT)`` on a
backbone (mmpretrain, mmdet, mmseg). ``--grid`` interpolates the position
embedding to another patch grid (e.g. 64 64 for 1024x1024 with patch 16).
"""
import argparse

import torch

from semaim_mm.checkpoints import (read_checkpoint, semaim_to_backbone,
                                   state_dict_of)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('src', help="SemAIM (or the authors') checkpoint")
    parser.add_argument('dst', help='output backbone checkpoint')
    parser.add_argument('--grid', type=int, nargs=2, metavar=('H', 'W'),
                        help='patch grid to interpolate pos_embed to')
    parser.add_argument('--trusted', action='store_true',
                        help='allow arbitrary pickled objects in SRC')
    args = parser.parse_args()
    try:
        sd = semaim_to_backbone(
            state_dict_of(read_checkpoint(args.src, args.trusted, 'SRC')),
            args.grid)
    except (FileNotFoundError, KeyError, ValueError) as e:
        raise SystemExit(f'error: {e.args[0] if e.args else e}')
    torch.save(dict(state_dict=sd, meta=dict(converted_from=args.src)),
               args.dst)
    print(f'wrote {args.dst} ({len(sd)} tensors)')


if __name__ == '__main__':
    main()
