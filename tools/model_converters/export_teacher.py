"""Write a teacher file for the DINO / CLIP feature-target configs.

    # a trained ViT (SemAIM pre-training, backbone or classifier checkpoint)
    # in DINO's released layout (dino_vitbase16_pretrain.pth: timm keys)
    python tools/model_converters/export_teacher.py dino OUT.pth \
        --checkpoint work_dirs/semaim_vit-tiny-p4_fashion-mnist/iter_300.pth \
        --num-heads 4
    # a random teacher of the tiny configs' size, written by the teachers'
    # own code (tests/teachers/published.py), as the CPU tests use
    python tools/model_converters/export_teacher.py dino checkpoints/tiny_dino_vit_p7_28.pth --random
    python tools/model_converters/export_teacher.py clip checkpoints/tiny_clip_vit_p7_28.pt --random

A trained SemAIM ViT is exported as DINO (the same network: GELU, qkv bias,
LayerNorm eps 1e-6, final norm), never as CLIP, whose tower differs (no patch
bias, ``ln_pre``, QuickGELU). The command to use the file is printed.
"""
import argparse
import importlib.util
import os
import os.path as osp

import torch

ROOT = osp.join(osp.dirname(osp.abspath(__file__)), '..', '..')

# The tiny configs' teachers: configs/pretrain/semaim_vit-tiny-p4_fashion-
# mnist_{dino,clip}.py (width 64, depth 2, patch 7 on 28x28).
TINY = dict(img_size=28, patch=7, width=64, depth=2, dino_heads=2)


def random_teacher(kind: str, out: str, seed: int) -> None:
    """The teachers' own code builds and saves the model (tests only have
    it, trimmed from facebookresearch/dino and openai/CLIP)."""
    spec = importlib.util.spec_from_file_location(
        'published', osp.join(ROOT, 'tests', 'teachers', 'published.py'))
    published = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(published)
    dino_vit, randomize_ = published.dino_vit, published.randomize_
    torch.manual_seed(seed)
    if kind == 'dino':
        model = dino_vit(TINY['img_size'], TINY['patch'], TINY['width'],
                         TINY['depth'], TINY['dino_heads'])
        published.save_dino_release(randomize_(model, seed=seed).eval(), out)
    else:
        model = published.tiny_clip(TINY['img_size'], TINY['patch'],
                                    TINY['width'], TINY['depth'])
        published.save_openai_jit(randomize_(model, seed=seed).eval(),
                                  out)


def trained_dino(checkpoint: str, out: str, num_heads: int) -> str:
    """DINO's release layout from a trained encoder; returns the
    --cfg-options that size the config's teacher to it."""
    from semaim_mm.checkpoints import load_encoder_state_dict, mm_vit_to_timm
    sd, _ = load_encoder_state_dict(checkpoint, source='--checkpoint')
    teacher = mm_vit_to_timm(sd)
    torch.save(teacher, out)
    width = teacher['cls_token'].shape[-1]
    depth = len({k.split('.')[1] for k in teacher if k.startswith('blocks.')})
    patch = teacher['patch_embed.proj.weight'].shape[-1]
    if width % num_heads:
        raise SystemExit(f'error: width {width} is not divisible by '
                         f'--num-heads {num_heads}')
    arch = 'model.target_generator.arch'
    return (f'{arch}.embed_dims={width} {arch}.num_layers={depth} '
            f'{arch}.num_heads={num_heads} {arch}.patch_size={patch}')


def main(argv=None) -> str:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('kind', choices=('dino', 'clip'))
    p.add_argument('out', help='teacher file to write')
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument('--checkpoint', help='trained ViT checkpoint (dino)')
    src.add_argument('--random', action='store_true',
                     help="random teacher of the tiny configs' size")
    p.add_argument('--num-heads', type=int,
                   help='attention heads of the trained ViT (not stored in '
                   'its weights)')
    p.add_argument('--seed', type=int, default=0)
    args = p.parse_args(argv)
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    options = f'model.target_generator.checkpoint={args.out}'
    if args.random:
        random_teacher(args.kind, args.out, args.seed)
    elif args.kind == 'clip':
        p.error('a trained SemAIM ViT is not a CLIP tower (patch bias, no '
                'ln_pre, GELU): export it as dino, or use --random')
    elif not args.num_heads:
        p.error('--num-heads is needed with --checkpoint')
    else:
        options += ' ' + trained_dino(args.checkpoint, args.out,
                                      args.num_heads)
    config = ('configs/pretrain/semaim_vit-tiny-p4_fashion-mnist_'
              f'{args.kind}.py')
    print(f'wrote {args.out}; use it with: python tools/train.py {config} '
          f'--cfg-options {options}')
    return args.out


if __name__ == '__main__':
    main()
