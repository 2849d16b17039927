# Ablation (paper Sec. "Autoregressive Modeling", Eq. 10 vs Algorithm 1):
# decoder block k reads the input of its encoder block (Eq. 10's h^(l-1))
# instead of its output (Algorithm 1 and the reference code, the default).
_base_ = './semaim_vitb_200e_ablation.py'

model = dict(neck=dict(tap='before'))
