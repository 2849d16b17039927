# Ablation (paper Table 1): raster order instead of the semantic-aware one.
_base_ = './semaim_vitb_200e_ablation.py'

model = dict(order='raster')
