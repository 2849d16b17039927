"""Run an experiment matrix (rows: pre-trainings or initialisations;
columns: evaluations; seeds) in resumable stages and write its report.

    python tools/reproduce.py configs/reproduce/fashion_mnist_short.py --tune
    python tools/reproduce.py configs/reproduce/fashion_mnist.py   # all
    python tools/reproduce.py SPEC --dry-run      # stages, status, estimate
    python tools/reproduce.py SPEC --only semantic,scratch --seeds 0
    python tools/reproduce.py SPEC --columns ft_10pct,knn --no-curve
    python tools/reproduce.py SPEC --report-only  # from finished stages
    python tools/reproduce.py --report-only --doc docs/reproduction.md
    python tools/reproduce.py SPEC --export-cells NAME  # commit the results
    python tools/reproduce.py SPEC --import-cells NAME  # go on elsewhere

A stage is pretrain(row, seed) or evaluate(row, column, seed); each writes
WORK_DIR/stages/<hash>/result.json (the hash covers its full resolved config,
an evaluation's includes its pre-training's). A rerun skips finished stages;
an interrupted one starts again from an empty work folder. The report is
WORK_DIR/report.md with fig_budget.png, fig_rows.png and fig_loss.png
beside it.

Protocol: a spec's `tune` grids run first (--tune: one seed, scored on the
validation split; a tuning stage that would read the test split is refused);
the final rows take each method's winner and read the test split once per
cell, after the last epoch. Rows waiting for their grid are refused with the
command to run. --doc re-renders a document's tables from the cells
committed under docs/reproduction_cells/ (the blocks marked
`<!-- cells {...} -->`).
"""
import sys
import warnings

from semaim_mm.reproduce.cli import main

# mmengine imports pkg_resources, which warns on every start.
warnings.filterwarnings('ignore', 'pkg_resources is deprecated')

if __name__ == '__main__':
    sys.exit(main(doc=__doc__))
