"""``tools/reproduce.py``: run an experiment matrix in resumable stages and
write its report (see that file's docstring for the flags)."""
import argparse
import os.path as osp
import shlex
import sys
from typing import List, Optional, Tuple

from .matrix import describe_failures, execute, run_root
from .plan import build_plan, select
from .report import write_report
from .spec import Spec, SpecError, load_spec
from .stages import Plan, Stage
from .store import Results, dry_run_lines


def _fashion_mosaic(out: str) -> None:
    from semaim_mm.datasets.mosaic import generate_mosaic
    generate_mosaic(out, fmt='both')


# Data a stage needs that a converter makes with its defaults: folder ->
# (the converter's command line, the call it runs).
PREPARE = {
    'data/fashion_mosaic': (
        'tools/dataset_converters/fashion_mosaic.py --out '
        'data/fashion_mosaic --format both', _fashion_mosaic),
}


def _names(text: Optional[str]) -> Optional[List[str]]:
    return [n for n in text.split(',') if n] if text else None


def parse_args(argv=None, doc: str = '') -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=doc.split('\n\n')[0] if doc else None, epilog=doc,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('spec', nargs='?',
                   help='matrix spec (configs/reproduce/*.py)')
    p.add_argument('--only', help='rows to run: ROW[,ROW]')
    p.add_argument('--columns', help='columns to run: COL[,COL]')
    p.add_argument('--seeds', type=int, nargs='+', help='seeds to run')
    p.add_argument('--no-curve', action='store_true',
                   help='skip the extra budgets of the budget curve')
    p.add_argument('--tune', action='store_true',
                   help="run the spec's validation grids (one seed; the "
                   'test split is never read); the winners feed the final '
                   'rows of a later run without --tune')
    p.add_argument('--work-dir', help="override the spec's work_dir")
    p.add_argument('--dry-run', action='store_true',
                   help='list the stages, their status and an estimate')
    p.add_argument('--report-only', action='store_true',
                   help='rebuild the report from the finished stages')
    p.add_argument('--doc', help='with --report-only and no spec: re-render '
                   'the tables of a document (docs/reproduction.md) from '
                   'the cells committed under docs/reproduction_cells/')
    p.add_argument('--export-cells', metavar='NAME',
                   help="with a spec: copy its finished stages' results "
                   '(tuning included) to docs/reproduction_cells/NAME/ for '
                   'committing; refused for stages run from an uncommitted '
                   'tree')
    p.add_argument('--import-cells', metavar='NAME',
                   help='with a spec: copy the cells committed under '
                   "docs/reproduction_cells/NAME/ into the spec's work dir "
                   'as finished stages (those without a result there), '
                   'to go on with a sitting (more seeds, more columns) on '
                   'another machine')
    return p.parse_args(argv)


def prepare_data(stages: List[Stage]) -> None:
    """Generate converter-made data that a selected stage reads and that is
    missing (the Fashion-MNIST mosaics)."""
    for folder, (command, make) in PREPARE.items():
        if osp.isdir(osp.join(run_root(), folder)):
            continue
        if any(folder in str(st.cfg.to_dict()) for st in stages):
            print(f'{folder} is missing: {command}', flush=True)
            make(osp.join(run_root(), folder))


def preflight(stages: List[Stage]) -> None:
    """Data checks before any stage starts. The one call site of the
    project's pre-flight for matrix runs (tools/reproduce.py and
    tools/demo.py both come here)."""
    from semaim_mm.datasets import find_fashion_mnist
    from semaim_mm.datasets.checks import DataCheckError, check_dataset_cfg
    prepare_data(stages)
    for st in stages:
        data = st.cfg.knn.bank_dataset if st.kind == 'knn' else \
            st.cfg.train_dataloader.dataset
        try:
            if 'FashionMNISTDataset' in str(data):
                find_fashion_mnist()
            check_dataset_cfg(data)
        except (DataCheckError, FileNotFoundError) as e:
            raise SpecError(f'{st.label}: {e}') from None


def plan_from_args(args) -> Plan:
    spec: Spec = load_spec(args.spec, args.work_dir)
    return build_plan(spec)


def render_committed(path: str) -> int:
    """``--report-only --doc FILE``: rewrite FILE's cells blocks."""
    from .cells import render_doc
    text, changed = render_doc(path, write_figures=True)
    with open(path, 'w') as f:
        f.write(text)
    print(f'{path}: {len(changed)} table(s) changed' +
          (f" ({'; '.join(changed)})" if changed else ''))
    return 0


def _fail(message: str) -> int:
    """Print a user error (no traceback); exit status 2."""
    print(f'error: {message}', file=sys.stderr)
    return 2


def _cells_command(args: argparse.Namespace) -> int:
    """``--export-cells`` / ``--import-cells``: move finished stages between
    the spec's work dir and ``docs/reproduction_cells/NAME/``."""
    from .cells import export_cells, import_cells
    if args.export_cells and args.import_cells:
        return _fail('give --export-cells or --import-cells, not both')
    if args.export_cells:
        n, out = export_cells(Results(plan_from_args(args)),
                              args.export_cells)
        print(f'{n} cell(s) written to {out}')
        return 0
    if args.tune or args.dry_run or args.report_only or args.only or \
            args.columns or args.seeds is not None:
        return _fail('--import-cells only imports; run the stages with a '
                     'second command')
    n = import_cells(lambda: plan_from_args(args), args.import_cells)
    print(f'{n} finished stage(s) imported from {args.import_cells}')
    return 0


def _selected(args: argparse.Namespace, plan: Plan) -> List[Stage]:
    """The stages the flags pick (--only, --columns, --seeds, ...)."""
    return select(plan, _names(args.only), _names(args.columns), args.seeds,
                  curve=not args.no_curve, tune=args.tune)


def _run_stages(args: argparse.Namespace, plan: Plan, stages: List[Stage],
                command: str) -> Tuple[Plan, List[Stage], int]:
    """Run ``stages``; with ``--tune``, then the grids that finished recipe
    grids release. Returns the last plan built, every stage run and the
    worker's exit status."""
    preflight(stages)
    rc = execute(plan, stages, command)
    while args.tune and not rc:
        plan = plan_from_args(args)
        done = {st.hash for st in stages}
        more = [st for st in select(plan, _names(args.only), tune=True)
                if st.hash not in done]
        if not more:
            break
        stages = stages + more
        preflight(more)
        rc = execute(plan, more, command)
    return plan, stages, rc


def main(argv=None, doc: str = '') -> int:
    args = parse_args(argv, doc)
    if args.doc or not args.spec:
        if not (args.doc and args.report_only and not args.spec):
            return _fail('give a spec, or --report-only --doc FILE (no '
                         'spec) to re-render a document from committed '
                         'cells')
        try:
            return render_committed(args.doc)
        except (SpecError, OSError) as e:
            return _fail(str(e))
    if args.tune and (args.columns or args.seeds is not None):
        return _fail("--tune runs each grid's own column and seed; drop "
                     '--columns / --seeds (--only picks the tuned rows)')
    if args.export_cells or args.import_cells:
        try:
            return _cells_command(args)
        except SpecError as e:
            return _fail(str(e))
    command = 'python tools/reproduce.py ' + ' '.join(
        shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv))
    rc = 0
    try:
        plan = plan_from_args(args)
        stages = [] if args.report_only else _selected(args, plan)
        if args.dry_run:
            print(f'spec {args.spec}: work dir {plan.spec.work_dir}')
            print('\n'.join(dry_run_lines(stages, Results(plan))))
            return 0
        if not args.report_only:
            plan, stages, rc = _run_stages(args, plan, stages, command)
    except SpecError as e:
        return _fail(str(e))
    except KeyboardInterrupt:
        print('interrupted: finished stages are kept; the same command '
              'continues where this run stopped', file=sys.stderr)
        return 130
    print(f'report: {write_report(plan)}')
    failures = describe_failures(plan, stages)
    if failures:
        print(f'error: {failures}', file=sys.stderr)
    elif rc:
        print(f'error: the worker stopped (exit status {rc}) before all '
              'stages finished; the same command continues where it '
              'stopped', file=sys.stderr)
    return rc
