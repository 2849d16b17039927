"""The teachers' original code, trimmed to what builds and saves a model, to
write checkpoints *exactly* as their authors' code does (tests only).

* DINO: facebookresearch/dino ``vision_transformer.py`` (Apache-2.0);
  ``dino_vitbase16_pretrain.pth`` is ``torch.save(backbone.state_dict())``,
  training checkpoints are ``torch.save({'student', 'teacher', 'optimizer',
  'epoch', 'args', 'dino_loss'})`` (``utils.save_on_master``).
* OpenAI CLIP: openai/CLIP ``clip/model.py`` (MIT); ``ViT-B-16.pt`` is a
  traced TorchScript archive of the whole model with fp16 weights
  (``convert_weights``).
* SemAIM reference ``engines/engine_pretrain.py``: ``forward_features_dino``
  / ``forward_features_clip``, the reference teacher outputs.
"""
import argparse
import math
from collections import OrderedDict
from functools import partial

import numpy as np
import torch
from torch import nn


# ------------------------------------------------------------------ DINO
class DinoMlp(nn.Module):

    def __init__(self, in_features, hidden_features):
        super().__init__()
        self.fc1 = nn.Linear(in_features, hidden_features)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden_features, in_features)
        self.drop = nn.Dropout(0.)

    def forward(self, x):
        return self.drop(self.fc2(self.drop(self.act(self.fc1(x)))))


class DinoAttention(nn.Module):

    def __init__(self, dim, num_heads=8, qkv_bias=False):
        super().__init__()
        self.num_heads = num_heads
        self.scale = (dim // num_heads)**-0.5
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.attn_drop = nn.Dropout(0.)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(0.)

    def forward(self, x):
        B, N, C = x.shape
        qkv = self.qkv(x).reshape(B, N, 3, self.num_heads,
                                  C // self.num_heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        attn = (q @ k.transpose(-2, -1)) * self.scale
        attn = attn.softmax(dim=-1)
        attn = self.attn_drop(attn)
        x = (attn @ v).transpose(1, 2).reshape(B, N, C)
        return self.proj_drop(self.proj(x)), attn


class DinoBlock(nn.Module):

    def __init__(self, dim, num_heads, mlp_ratio=4., qkv_bias=False,
                 norm_layer=nn.LayerNorm):
        super().__init__()
        self.norm1 = norm_layer(dim)
        self.attn = DinoAttention(dim, num_heads, qkv_bias)
        self.drop_path = nn.Identity()
        self.norm2 = norm_layer(dim)
        self.mlp = DinoMlp(dim, int(dim * mlp_ratio))

    def forward(self, x):
        y, attn = self.attn(self.norm1(x))
        x = x + self.drop_path(y)
        return x + self.drop_path(self.mlp(self.norm2(x)))


class DinoPatchEmbed(nn.Module):

    def __init__(self, img_size=224, patch_size=16, in_chans=3,
                 embed_dim=768):
        super().__init__()
        self.num_patches = (img_size // patch_size) * (img_size // patch_size)
        self.proj = nn.Conv2d(in_chans, embed_dim, kernel_size=patch_size,
                              stride=patch_size)

    def forward(self, x):
        return self.proj(x).flatten(2).transpose(1, 2)


class DinoVisionTransformer(nn.Module):

    def __init__(self, img_size=[224], patch_size=16, in_chans=3,
                 num_classes=0, embed_dim=768, depth=12, num_heads=12,
                 mlp_ratio=4., qkv_bias=False, norm_layer=nn.LayerNorm):
        super().__init__()
        self.num_features = self.embed_dim = embed_dim
        self.patch_embed = DinoPatchEmbed(img_size[0], patch_size, in_chans,
                                          embed_dim)
        num_patches = self.patch_embed.num_patches
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, num_patches + 1,
                                                  embed_dim))
        self.pos_drop = nn.Dropout(p=0.)
        self.blocks = nn.ModuleList([
            DinoBlock(embed_dim, num_heads, mlp_ratio, qkv_bias, norm_layer)
            for _ in range(depth)
        ])
        self.norm = norm_layer(embed_dim)
        self.head = nn.Identity()
        nn.init.trunc_normal_(self.pos_embed, std=.02)
        nn.init.trunc_normal_(self.cls_token, std=.02)

    def interpolate_pos_encoding(self, x, w, h):
        npatch = x.shape[1] - 1
        N = self.pos_embed.shape[1] - 1
        if npatch == N and w == h:
            return self.pos_embed
        raise NotImplementedError  # not needed by the tests

    def prepare_tokens(self, x):
        B, nc, w, h = x.shape
        x = self.patch_embed(x)
        cls_tokens = self.cls_token.expand(B, -1, -1)
        x = torch.cat((cls_tokens, x), dim=1)
        x = x + self.interpolate_pos_encoding(x, w, h)
        return self.pos_drop(x)

    def get_intermediate_layers(self, x, n=1):
        x = self.prepare_tokens(x)
        output = []
        for i, blk in enumerate(self.blocks):
            x = blk(x)
            if len(self.blocks) - i <= n:
                output.append(self.norm(x))
        return output


def dino_vit(img_size, patch_size, embed_dim, depth, num_heads):
    """DINO's ``vit_small`` / ``vit_base`` recipe at any size."""
    return DinoVisionTransformer(
        img_size=[img_size], patch_size=patch_size, embed_dim=embed_dim,
        depth=depth, num_heads=num_heads, mlp_ratio=4, qkv_bias=True,
        norm_layer=partial(nn.LayerNorm, eps=1e-6))


def forward_features_dino(model, x):
    """SemAIM reference engine_pretrain.forward_features_dino."""
    B = x.shape[0]
    x = model.patch_embed(x)
    cls_tokens = model.cls_token.expand(B, -1, -1)
    x = torch.cat((cls_tokens, x), dim=1)
    x = x + model.pos_embed
    x = model.pos_drop(x)
    for blk in model.blocks:
        x = blk(x)
    return model.norm(x)


def save_dino_release(model, path):
    """How dino_vitbase16_pretrain.pth was written: the teacher backbone."""
    torch.save(model.state_dict(), path)


def save_dino_training_checkpoint(model, path, out_dim=16):
    """DINO main_dino.py's checkpoint.pth (student/teacher MultiCropWrapper
    state dicts + optimizer, epoch, args, dino_loss)."""
    head = nn.Sequential(nn.Linear(model.embed_dim, out_dim))
    teacher = OrderedDict(
        [('backbone.' + k, v) for k, v in model.state_dict().items()] +
        [('head.' + k, v) for k, v in head.state_dict().items()])
    student = OrderedDict(('module.' + k, v.clone() + 1)
                          for k, v in teacher.items())
    opt = torch.optim.AdamW(model.parameters())
    torch.save({
        'student': student, 'teacher': teacher,
        'optimizer': opt.state_dict(), 'epoch': 100,
        'args': argparse.Namespace(arch='vit_base', patch_size=16),
        'dino_loss': {'center': torch.zeros(1, out_dim)},
    }, path)


# ------------------------------------------------------------ OpenAI CLIP
class LayerNorm(nn.LayerNorm):
    """Subclass torch's LayerNorm to handle fp16."""

    def forward(self, x):
        orig_type = x.dtype
        ret = super().forward(x.type(torch.float32))
        return ret.type(orig_type)


class QuickGELU(nn.Module):

    def forward(self, x):
        return x * torch.sigmoid(1.702 * x)


class ResidualAttentionBlock(nn.Module):

    def __init__(self, d_model, n_head, attn_mask=None):
        super().__init__()
        self.attn = nn.MultiheadAttention(d_model, n_head)
        self.ln_1 = LayerNorm(d_model)
        self.mlp = nn.Sequential(OrderedDict([
            ('c_fc', nn.Linear(d_model, d_model * 4)),
            ('gelu', QuickGELU()),
            ('c_proj', nn.Linear(d_model * 4, d_model)),
        ]))
        self.ln_2 = LayerNorm(d_model)
        self.attn_mask = attn_mask

    def attention(self, x):
        self.attn_mask = self.attn_mask.to(
            dtype=x.dtype, device=x.device
        ) if self.attn_mask is not None else None
        return self.attn(x, x, x, need_weights=False,
                         attn_mask=self.attn_mask)[0]

    def forward(self, x):
        x = x + self.attention(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class Transformer(nn.Module):

    def __init__(self, width, layers, heads, attn_mask=None):
        super().__init__()
        self.width = width
        self.layers = layers
        self.resblocks = nn.Sequential(*[
            ResidualAttentionBlock(width, heads, attn_mask)
            for _ in range(layers)
        ])

    def forward(self, x):
        return self.resblocks(x)


class VisionTransformer(nn.Module):

    def __init__(self, input_resolution, patch_size, width, layers, heads,
                 output_dim):
        super().__init__()
        self.input_resolution = input_resolution
        self.output_dim = output_dim
        self.conv1 = nn.Conv2d(3, width, kernel_size=patch_size,
                               stride=patch_size, bias=False)
        scale = width**-0.5
        self.class_embedding = nn.Parameter(scale * torch.randn(width))
        self.positional_embedding = nn.Parameter(scale * torch.randn(
            (input_resolution // patch_size)**2 + 1, width))
        self.ln_pre = LayerNorm(width)
        self.transformer = Transformer(width, layers, heads)
        self.ln_post = LayerNorm(width)
        self.proj = nn.Parameter(scale * torch.randn(width, output_dim))

    def forward(self, x):
        x = self.conv1(x)
        x = x.reshape(x.shape[0], x.shape[1], -1)
        x = x.permute(0, 2, 1)
        x = torch.cat([
            self.class_embedding.to(x.dtype) + torch.zeros(
                x.shape[0], 1, x.shape[-1], dtype=x.dtype, device=x.device),
            x
        ], dim=1)
        x = x + self.positional_embedding.to(x.dtype)
        x = self.ln_pre(x)
        x = x.permute(1, 0, 2)
        x = self.transformer(x)
        x = x.permute(1, 0, 2)
        x = self.ln_post(x[:, 0, :])
        if self.proj is not None:
            x = x @ self.proj
        return x


class CLIP(nn.Module):

    def __init__(self, embed_dim, image_resolution, vision_layers,
                 vision_width, vision_patch_size, context_length, vocab_size,
                 transformer_width, transformer_heads, transformer_layers):
        super().__init__()
        self.context_length = context_length
        vision_heads = vision_width // 64
        self.visual = VisionTransformer(
            input_resolution=image_resolution, patch_size=vision_patch_size,
            width=vision_width, layers=vision_layers, heads=vision_heads,
            output_dim=embed_dim)
        self.transformer = Transformer(
            width=transformer_width, layers=transformer_layers,
            heads=transformer_heads, attn_mask=self.build_attention_mask())
        self.vocab_size = vocab_size
        self.token_embedding = nn.Embedding(vocab_size, transformer_width)
        self.positional_embedding = nn.Parameter(
            torch.empty(self.context_length, transformer_width))
        self.ln_final = LayerNorm(transformer_width)
        self.text_projection = nn.Parameter(
            torch.empty(transformer_width, embed_dim))
        self.logit_scale = nn.Parameter(torch.ones([]) * np.log(1 / 0.07))
        nn.init.normal_(self.token_embedding.weight, std=0.02)
        nn.init.normal_(self.positional_embedding, std=0.01)
        nn.init.normal_(self.text_projection,
                        std=self.transformer.width**-0.5)

    def build_attention_mask(self):
        mask = torch.empty(self.context_length, self.context_length)
        mask.fill_(float('-inf'))
        mask.triu_(1)
        return mask

    @property
    def dtype(self):
        return self.visual.conv1.weight.dtype

    def encode_image(self, image):
        return self.visual(image.type(self.dtype))

    def encode_text(self, text):
        x = self.token_embedding(text).type(self.dtype)
        x = x + self.positional_embedding.type(self.dtype)
        x = x.permute(1, 0, 2)
        x = self.transformer(x)
        x = x.permute(1, 0, 2)
        x = self.ln_final(x).type(self.dtype)
        return x[torch.arange(x.shape[0]),
                 text.argmax(dim=-1)] @ self.text_projection

    def forward(self, image, text):
        image_features = self.encode_image(image)
        text_features = self.encode_text(text)
        image_features = image_features / image_features.norm(
            dim=1, keepdim=True)
        text_features = text_features / text_features.norm(dim=1,
                                                           keepdim=True)
        logit_scale = self.logit_scale.exp()
        logits_per_image = logit_scale * image_features @ text_features.t()
        return logits_per_image, logits_per_image.t()


def convert_weights(model: nn.Module):
    """openai/CLIP: convert applicable model parameters to fp16."""

    def _convert_weights_to_fp16(l):
        if isinstance(l, (nn.Conv1d, nn.Conv2d, nn.Linear)):
            l.weight.data = l.weight.data.half()
            if l.bias is not None:
                l.bias.data = l.bias.data.half()
        if isinstance(l, nn.MultiheadAttention):
            for attr in [
                    *[f'{s}_proj_weight' for s in ['in', 'q', 'k', 'v']],
                    'in_proj_bias', 'bias_k', 'bias_v'
            ]:
                tensor = getattr(l, attr)
                if tensor is not None:
                    tensor.data = tensor.data.half()
        for name in ['text_projection', 'proj']:
            if hasattr(l, name):
                attr = getattr(l, name)
                if attr is not None:
                    attr.data = attr.data.half()

    model.apply(_convert_weights_to_fp16)


def tiny_clip(image_resolution=28, patch=7, width=64, layers=2, embed_dim=32):
    return CLIP(embed_dim, image_resolution, layers, width, patch,
                context_length=8, vocab_size=50, transformer_width=64,
                transformer_heads=1, transformer_layers=1)


def save_openai_jit(model: CLIP, path: str):
    """Write the model the way OpenAI's ``ViT-B-16.pt`` is: fp16 weights
    (``convert_weights``), traced (``image``, ``text``), ``torch.jit.save``.
    Tracing runs in fp32 (CPU), the stored weights are fp16."""
    res = model.visual.input_resolution
    image = torch.randn(1, 3, res, res)
    text = torch.randint(0, model.vocab_size, (1, model.context_length))
    traced = torch.jit.trace(model, (image, text), check_trace=False)
    half = convert_weights_copy(model)
    with torch.no_grad():
        for name, p in traced.named_parameters():
            p.data = half[name]
    torch.jit.save(traced, path)


def convert_weights_copy(model):
    import copy
    m = copy.deepcopy(model)
    convert_weights(m)
    return dict(m.named_parameters())


def forward_features_clip(model, x):
    """SemAIM reference engine_pretrain.forward_features_clip (``model`` is
    ``clip_model.visual``)."""
    x = model.conv1(x)
    x = x.reshape(x.shape[0], x.shape[1], -1)
    x = x.permute(0, 2, 1)
    x = torch.cat([
        model.class_embedding.to(x.dtype) + torch.zeros(
            x.shape[0], 1, x.shape[-1], dtype=x.dtype, device=x.device), x
    ], dim=1)
    x = x + model.positional_embedding.to(x.dtype)
    x = model.ln_pre(x)
    x = x.permute(1, 0, 2)
    x = model.transformer(x)
    x = x.permute(1, 0, 2)
    x = model.ln_post(x)
    if model.proj is not None:
        x = x @ model.proj
    return x


def randomize_(model: nn.Module, std: float = 0.1, seed: int = 0):
    """Perturb every parameter (LayerNorm weights/biases and zero-initialised
    biases included) so that any swapped key would change the outputs."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=g) * std)
    return model
