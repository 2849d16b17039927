# Ablation (paper Table 3): decoder depth 6 (encoder layers tapped evenly).
_base_ = './semaim_vitb_200e_ablation.py'

model = dict(neck=dict(depth=6))
