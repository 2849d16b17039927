# Runtime shared by every pre-training and classification config (mmpretrain).
default_scope = 'mmpretrain'
# `import semaim_mm` registers the models only; these register the hooks,
# sampler (engine) and datasets / transforms (datasets) named below and in
# the dataset bases.
custom_imports = dict(imports=['semaim_mm.engine', 'semaim_mm.datasets'],
                      allow_failed_imports=False)

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=100),
    param_scheduler=dict(type='ParamSchedulerHook'),
    # Atomic writes, prune-after-save, resume only from complete files,
    # checkpoint-kind check (semaim_mm/engine/checkpoint.py).
    checkpoint=dict(type='SafeCheckpointHook', interval=1, max_keep_ckpts=3),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='VisualizationHook', enable=False),
    # runner.iter into each data sample's metainfo: SemAIM seeds the order
    # noise by (seed, iteration, sample index).
    sample_iteration=dict(type='SampleIterationHook'),
)

# Exact mid-epoch resume (needs sampler=dict(type='ResumableSampler')) and a
# NaN/Inf-loss guard (action='stop' or 'skip'); see docs/reliability.md.
custom_hooks = [
    dict(type='ExactResumeHook'),
    dict(type='NonFiniteLossHook', action='stop'),
]

env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    # Without CUDA the tools (--launcher) switch this to gloo: semaim_mm.compat.
    dist_cfg=dict(backend='nccl'),
)

vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(type='UniversalVisualizer', vis_backends=vis_backends)

log_level = 'INFO'
load_from = None
resume = False
randomness = dict(seed=0, diff_rank_seed=True, deterministic=False)
