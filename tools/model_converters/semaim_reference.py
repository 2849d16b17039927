"""Convert between the authors' SemAIM checkpoints and this project's.

    python tools/model_converters/semaim_reference.py REF.pth OUT.pth
    python tools/model_converters/semaim_reference.py OURS.pth REF.pth --to-reference

The mapping lives in semaim_mm.converters (see its docstring for the one
documented difference: the reference's shared final norm).
"""
import argparse

import torch

from semaim_mm.converters import (detect_format, load_state_dict,
                                  reference_to_semaim, semaim_to_reference)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('src', help='input checkpoint')
    parser.add_argument('dst', help='output checkpoint')
    parser.add_argument('--to-reference', action='store_true',
                        help='write the authors\' layout instead')
    parser.add_argument('--trusted', action='store_true',
                        help='allow arbitrary pickled objects in SRC')
    args = parser.parse_args()
    sd = load_state_dict(args.src, trusted=args.trusted)
    kind = detect_format(sd)
    want = 'semaim' if args.to_reference else 'reference'
    if kind != want:
        raise SystemExit(f'{args.src} is a {kind!r} checkpoint; expected a '
                         f'{want!r} one')
    if args.to_reference:
        torch.save(dict(model=semaim_to_reference(sd)), args.dst)
    else:
        torch.save(dict(state_dict=reference_to_semaim(sd),
                        meta=dict(converted_from='reference')), args.dst)
    print(f'wrote {args.dst}')


if __name__ == '__main__':
    main()
