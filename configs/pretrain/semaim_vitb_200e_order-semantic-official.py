# Ablation: the reference code's semantic order (no mean filter, noise 1e-3).
_base_ = './semaim_vitb_200e_ablation.py'

model = dict(order=dict(_delete_=True, type='semantic_official'))
