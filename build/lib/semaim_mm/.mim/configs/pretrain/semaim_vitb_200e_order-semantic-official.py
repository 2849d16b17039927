# Ablation: the reference code's semantic order (no mean filter, noise 1e-3)
# and its similarity map, computed in fp32 outside autocast.
_base_ = './semaim_vitb_200e_ablation.py'

model = dict(order='semantic_official', similarity_fp32=True)
