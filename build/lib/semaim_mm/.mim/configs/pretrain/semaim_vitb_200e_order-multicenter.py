# Beyond the paper: semantic order around two centres (peaks of S).
_base_ = './semaim_vitb_200e_ablation.py'

model = dict(order=dict(_delete_=True, type='semantic_multicenter',
                        num_centers=2))
