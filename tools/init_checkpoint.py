"""Save a config's model at its seeded initialisation as a checkpoint (the
"before training" baseline for tools/test.py).

    python tools/init_checkpoint.py CONFIG OUT.pth [--seed 0]

Works for any config of this project (the registry scope comes from the
config's ``default_scope``; ``custom_imports`` are honoured).
"""
import argparse
import os
import os.path as osp

import torch
from mmengine.config import Config
from mmengine.registry import MODELS, DefaultScope
from mmengine.runner import set_random_seed
from mmengine.utils import import_modules_from_strings

import semaim_mm  # noqa: F401


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config')
    parser.add_argument('out')
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args()
    cfg = Config.fromfile(args.config)
    if cfg.get('custom_imports'):
        import_modules_from_strings(**cfg.custom_imports)
    set_random_seed(args.seed)
    with DefaultScope.overwrite_default_scope(cfg.get('default_scope')):
        model = MODELS.build(cfg.model)
    model.init_weights()
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    torch.save(dict(state_dict=model.state_dict(),
                    meta=dict(seed=args.seed, config=args.config)), args.out)
    print(f'saved {args.out}')


if __name__ == '__main__':
    main()
