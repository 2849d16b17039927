"""Measuring a training step: phase regions (:mod:`.phases`, marked by
``SemAIM.loss``), analytic FLOPs (:mod:`.flops`), the bare-step benchmark
(:mod:`.benchmark`), the end-to-end rate through the Runner
(:mod:`.runner_benchmark`) and a config's model on a simulated CUDA device
(:mod:`.simulated_cuda`).

Importing the package imports none of them: ``SemAIM`` needs only
:mod:`.phases`, and ``import semaim_mm`` must stay free of the benchmark.
"""
