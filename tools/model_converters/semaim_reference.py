"""Convert between the authors' SemAIM checkpoints and this project's.

    python tools/model_converters/semaim_reference.py REF.pth OUT.pth
    python tools/model_converters/semaim_reference.py OURS.pth REF.pth --to-reference

REF.pth: any file the authors' code (GitHub skyoux/SemAIM) writes:
``main_pretrain.py``'s checkpoint (``state_dict``, ``module.``-prefixed when
trained with torch.distributed) or ``util/misc.py save_model``'s (``model``
and an ``argparse.Namespace``, read without executing code). Its blur buffer
``gaussian_blur.weight`` must equal the Gaussian given by ``--blur-kernel`` /
``--blur-sigma`` (the authors' 9 / 1 by default, this project's
``RGBTargetGenerator`` default too).

``--to-reference`` writes ``{'state_dict': ...}`` in the authors' layout, blur
buffer included: ``AimViT(...).load_state_dict(sd, strict=True)`` accepts it
and ``main_pretrain.py`` resumes from it (it reads ``state_dict``; it resumes
from ``OUTPUT_DIR/<model>.<experiment>.temp.pth``: copy the file there).
``--ddp-prefix`` writes the keys as a ``torch.distributed`` run's model
expects them (``module.``). The authors have one final norm where this project
has two (``backbone.ln1``, ``head.norm``): ``--norm-from`` picks which one is
written (a warning says when they differ). The mapping lives in
:mod:`semaim_mm.checkpoints`.
"""
import argparse

import torch

from semaim_mm.checkpoints import (detect_format, read_checkpoint,
                                   reference_to_semaim, semaim_to_reference,
                                   state_dict_of)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('src', help='input checkpoint')
    parser.add_argument('dst', help='output checkpoint')
    parser.add_argument('--to-reference', action='store_true',
                        help="write the authors' layout instead")
    parser.add_argument('--norm-from', choices=('head', 'encoder'),
                        default='head',
                        help="--to-reference: the authors' one final norm "
                        'is head.norm (default) or backbone.ln1')
    parser.add_argument('--blur-kernel', type=int, default=9,
                        help='target blur kernel size (0: no blur)')
    parser.add_argument('--blur-sigma', type=float, default=1.0)
    parser.add_argument('--ddp-prefix', action='store_true',
                        help="--to-reference: prefix keys with 'module.'")
    parser.add_argument('--trusted', action='store_true',
                        help='allow arbitrary pickled objects in SRC')
    return parser.parse_args(argv)


def convert(args: argparse.Namespace) -> dict:
    """The checkpoint to write, or ``SystemExit`` with the reason."""
    sd = state_dict_of(read_checkpoint(args.src, args.trusted, 'SRC'))
    kind = detect_format(sd)
    want = 'semaim' if args.to_reference else 'reference'
    if kind != want:
        raise SystemExit(f'error: {args.src} is a {kind!r} checkpoint; '
                         f'expected a {want!r} one')
    blur = (args.blur_kernel, args.blur_sigma)
    if not args.to_reference:
        return dict(state_dict=reference_to_semaim(sd, blur),
                    meta=dict(converted_from='reference', source=args.src))
    ref = semaim_to_reference(sd, args.norm_from, blur)
    if args.ddp_prefix:
        ref = {'module.' + k: v for k, v in ref.items()}
    return dict(state_dict=ref)


def main(argv=None) -> None:
    args = parse_args(argv)
    try:
        out = convert(args)
    except (FileNotFoundError, KeyError, ValueError) as e:
        raise SystemExit(f'error: {e.args[0] if e.args else e}')
    torch.save(out, args.dst)
    print(f'wrote {args.dst}')


if __name__ == '__main__':
    main()
