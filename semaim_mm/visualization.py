"""Figure 2 of the SemAIM paper for any image and checkpoint.

One row per image: the input, the last block's CLS self-attention (mean over
heads, computed here from the block's ``qkv`` weights), the similarity map S
(:meth:`SemAIM.similarity`), and five autoregression orders drawn as heat
maps of ``Permutation.rank`` (warm = predicted first): raster, stochastic,
similarity, semantic and multi-centre semantic. The centres the semantic
orders chose are outlined (on their order panels and on S).

:func:`order_panels` returns the data (numpy arrays), :func:`draw_panels`
draws them with matplotlib (Agg) to a PNG and can save the data next to it
(``.npz``) so tests can check what the picture shows.
"""
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
from torch import Tensor

from .models.orders import build_order_rule, draw_noise

DEFAULT_ORDERS = (
    ('raster', 'raster'),
    ('stochastic', 'stochastic'),
    ('similarity', 'similarity'),
    ('semantic', 'semantic'),
    ('multi-centre', dict(type='semantic_multicenter', num_centers=2)),
)


@torch.no_grad()
def cls_attention(backbone, inputs: Tensor) -> Tensor:
    """(B, N) attention of the CLS query over the patches in the last block
    (softmax over all 1+N keys, CLS column dropped, mean over heads), full
    (unmasked) attention as at inference."""
    tokens, _, _ = backbone.embed(inputs)
    for layer in backbone.layers[:-1]:
        tokens = layer(tokens)
    last = backbone.layers[-1]
    q, k, _ = last.attn.qkv_heads(last.ln1(tokens))  # (B, heads, 1+N, d)
    scores = (q[:, :, :1] @ k.transpose(-2, -1)) * q.shape[-1]**-0.5
    weights = scores.softmax(dim=-1)[:, :, 0, 1:]  # (B, heads, N)
    return weights.mean(dim=1)


@torch.no_grad()
def order_panels(model,
                 inputs: Tensor,
                 orders: Sequence = DEFAULT_ORDERS,
                 seed: int = 0) -> Dict[str, np.ndarray]:
    """Everything Fig. 2 shows, for normalised images ``inputs`` (B, C, H, W).

    Args:
        model: a :class:`SemAIM` (uses ``backbone`` and ``similarity``).
        orders: ``(title, order cfg)`` pairs.
        seed: order noise seed (image ``b`` uses ``seed + b``).

    Returns:
        dict with ``grid`` (2,), ``attention`` and ``similarity`` (B, H', W'),
        ``rank`` (B, num_orders, H', W') int (0 = predicted first),
        ``centers`` (B, num_orders, K) raster index of each order's chosen
        centres (-1 pads; all -1 for orders without centres),
        ``order_names`` (num_orders,) str.
    """
    was_training = model.training
    model.eval()
    try:
        grid = model.backbone.check_input(inputs)
        B = inputs.shape[0]
        n = grid[0] * grid[1]
        sim = model.similarity(inputs)
        att = cls_attention(model.backbone, inputs)
        noise = draw_noise([seed + b for b in range(B)], n, inputs.device)
        ranks, centers = [], []
        for _, cfg in orders:
            rule = build_order_rule(cfg)
            ranks.append(rule(sim if rule.needs_similarity else None, grid,
                              noise).rank)
            centers.append(rule.centers(sim, grid).cpu().numpy()
                           if hasattr(rule, 'centers') else
                           np.full((B, 1), -1))
    finally:
        model.train(was_training)
    k = max(c.shape[1] for c in centers)
    return dict(
        grid=np.asarray(grid),
        attention=att.reshape(B, *grid).cpu().numpy(),
        similarity=sim.reshape(B, *grid).cpu().numpy(),
        rank=torch.stack(ranks, 1).reshape(B, len(ranks), *grid).cpu().numpy(),
        centers=np.stack([np.pad(c, ((0, 0), (0, k - c.shape[1])),
                                 constant_values=-1) for c in centers], 1),
        order_names=np.asarray([name for name, _ in orders]))


def mark_centers(ax, centers: np.ndarray, width: int,
                 color: str = 'black') -> None:
    """Outline the cells at raster indices ``centers`` (-1 = none)."""
    from matplotlib.patches import Rectangle
    for c in centers:
        if c >= 0:
            y, x = divmod(int(c), width)
            ax.add_patch(Rectangle((x - 0.5, y - 0.5), 1, 1, fill=False,
                                   edgecolor=color, linewidth=2))


def denormalize(inputs: Tensor, mean: Sequence[float],
                std: Sequence[float]) -> np.ndarray:
    """(B, C, H, W) normalised -> (B, H, W, C) uint8 for display."""
    mean = torch.as_tensor(mean, dtype=inputs.dtype).view(1, -1, 1, 1)
    std = torch.as_tensor(std, dtype=inputs.dtype).view(1, -1, 1, 1)
    img = (inputs.cpu() * std + mean).clamp(0, 255).round().byte()
    return img.permute(0, 2, 3, 1).numpy()


def draw_panels(images: np.ndarray,
                panels: Dict[str, np.ndarray],
                out_file: str,
                titles: Optional[List[str]] = None,
                save_data: bool = True) -> str:
    """Draw Fig. 2 rows to ``out_file`` (PNG); also ``<out_file>.npz`` with
    the arrays drawn when ``save_data``. Returns ``out_file``."""
    import matplotlib
    matplotlib.use('Agg', force=False)
    import matplotlib.pyplot as plt
    B = images.shape[0]
    names = [str(n) for n in panels['order_names']]
    cols = 3 + len(names)
    fig, axes = plt.subplots(B, cols, figsize=(1.7 * cols, 1.8 * B + 0.4),
                             squeeze=False)
    gh, gw = (int(x) for x in panels['grid'])
    n = gh * gw
    annotate = n <= 64
    heads = ['input', 'CLS attention', 'similarity S'] + \
        [f'{name} order' for name in names]
    for b in range(B):
        row = axes[b]
        img = images[b]
        row[0].imshow(img.squeeze(-1) if img.shape[-1] == 1 else img,
                      cmap='gray' if img.shape[-1] == 1 else None)
        row[1].imshow(panels['attention'][b], cmap='viridis')
        row[2].imshow(panels['similarity'][b], cmap='viridis')
        centers = panels.get('centers')
        if centers is not None and (centers[b] >= 0).any():
            first = int(np.flatnonzero((centers[b] >= 0).any(1))[0])
            mark_centers(row[2], centers[b, first], gw, 'white')
        for j in range(len(names)):
            rank = panels['rank'][b, j]
            ax = row[3 + j]
            # warm (red) = predicted first, cold (blue) = last
            ax.imshow(rank, cmap='coolwarm_r', vmin=0, vmax=max(n - 1, 1))
            if annotate:
                for (y, x), r in np.ndenumerate(rank):
                    ax.text(x, y, str(int(r)), ha='center', va='center',
                            fontsize=6 if n > 16 else 8, color='black')
            if centers is not None:
                mark_centers(ax, centers[b, j], gw)
        for j, ax in enumerate(row):
            ax.set_xticks([])
            ax.set_yticks([])
            if b == 0:
                ax.set_title(heads[j], fontsize=8)
        if titles:
            row[0].set_ylabel(titles[b], fontsize=8)
    fig.suptitle('SemAIM orders (Fig. 2): warm = predicted first, outlined = '
                 'the chosen centre(s) (white on S: the semantic order\'s)',
                 fontsize=9)
    fig.tight_layout()
    d = osp.dirname(out_file)
    if d:
        os.makedirs(d, exist_ok=True)
    fig.savefig(out_file, dpi=110)
    plt.close(fig)
    if save_data:
        np.savez(out_file + '.npz', images=images, **panels)
    return out_file


def visualize_orders(model, inputs: Tensor, out_file: str,
                     titles: Optional[List[str]] = None, seed: int = 0,
                     orders: Sequence = DEFAULT_ORDERS) -> Dict[str, np.ndarray]:
    """:func:`order_panels` + :func:`draw_panels`; the input is
    de-normalised with the model's data preprocessor mean / std."""
    panels = order_panels(model, inputs, orders, seed)
    pre = model.data_preprocessor
    mean = pre.mean.flatten().tolist() if getattr(pre, 'mean', None) \
        is not None else [0.] * inputs.shape[1]
    std = pre.std.flatten().tolist() if getattr(pre, 'std', None) \
        is not None else [1.] * inputs.shape[1]
    draw_panels(denormalize(inputs, mean, std), panels, out_file, titles)
    return panels
