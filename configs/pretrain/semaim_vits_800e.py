# SemAIM ViT-S/16 (DeiT-S: 384 wide, 12 blocks, 6 heads) with a 12-block
# decoder of the same width. Also the model of the CPU benchmark targets in
# docs/benchmarks.md (tools/benchmark.py; --img-size 448 for 784 tokens).
_base_ = './semaim_vitb_800e.py'

model = dict(backbone=dict(arch='deit-small'))
