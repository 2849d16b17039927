"""Measuring a training step: phase regions (:mod:`.phases`, marked by
``SemAIM.loss``), analytic FLOPs (:mod:`.flops`), the bare-step benchmark
(:mod:`.benchmark`) and the end-to-end rate through the Runner
(:mod:`.runner_benchmark`).

Importing the package imports none of them: ``SemAIM`` needs only
:mod:`.phases`, and ``import semaim_mm`` must stay free of the benchmark.
"""
