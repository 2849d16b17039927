"""One pre-flight for every tool: data, annotations, checkpoint, device.

Each tool calls it before it builds anything, and runs its ``main`` under
:func:`run_tool`, so the user's mistakes end in one ``error: ...`` line and
exit status 1, without a traceback::

    from semaim_mm.preflight import preflight, run_tool
    preflight(cfg, tool='test', checkpoint=args.checkpoint)

``tool`` is one of ``train``, ``test``, ``knn``, ``visualize``, ``demo``; it
decides which datasets are checked (``datasets=`` overrides), which
checkpoint kinds are accepted, and whether AMP needs a GPU. The evaluation
pipelines are switched to ``SafeLoadImageFromFile(on_error='raise')``, so a
truncated image is an error naming the file.
"""
import os
import os.path as osp
import sys
from typing import Any, Callable, Iterable, List, Optional, Sequence, Tuple

from .checkpoints.integrity import checkpoint_problem
from .checkpoints.kinds import checkpoint_kind, kind_mismatch
from .datasets.checks import (DataCheckError, check_checkpoint_cfg,
                              check_dataset_cfg)
from .datasets.safe_loading import BadImageError, SafeLoadImageFromFile
from .engine import (CheckpointCheckError, CheckpointSaveError,
                     InputSizeError, NonFiniteLossError, NothingToResumeError,
                     WorkDirBusyError, WorkDirError)
from .engine.options import ConfigError

TOOLS = ('train', 'test', 'knn', 'visualize', 'demo')
ENCODER_KINDS = ('semaim', 'reference', 'backbone', 'classifier')
# Checkpoint kinds (semaim_mm.checkpoints.detect_format) the encoder tools
# accept.
TOOL_CHECKPOINTS = {
    'knn': (ENCODER_KINDS, 'k-NN evaluation (a SemAIM pre-training, '
            "authors' reference, backbone or classifier checkpoint)"),
    'visualize': (('semaim', 'reference', 'classifier'),
                  "the order visualisation (a SemAIM pre-training, authors' "
                  'reference or classifier checkpoint)'),
}
LOADERS = ('LoadImageFromFile', 'mmdet.LoadImageFromFile',
           'mmseg.LoadImageFromFile', 'mmpretrain.LoadImageFromFile',
           'mmcv.LoadImageFromFile')


class PreflightError(ValueError):
    """A problem found before a tool builds anything."""


USER_ERRORS = (PreflightError, DataCheckError, CheckpointCheckError,
               NothingToResumeError, WorkDirBusyError, InputSizeError,
               BadImageError, NonFiniteLossError, ConfigError,
               CheckpointSaveError, WorkDirError)

# What each --launcher needs from the process environment, and who sets it.
LAUNCHER_ENV = {
    'pytorch': (('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT'),
                'torchrun sets them: tools/dist_train.sh CONFIG NUM_GPUS, '
                'or torchrun --nproc_per_node N tools/train.py CONFIG '
                '--launcher pytorch'),
    'slurm': (('SLURM_PROCID', 'SLURM_NTASKS', 'SLURM_NODELIST'),
              'run it as a Slurm job step: tools/slurm_train.sh PARTITION '
              'JOB CONFIG WORK_DIR (srun ... --launcher slurm)'),
    'mpi': (('OMPI_COMM_WORLD_RANK', 'OMPI_COMM_WORLD_SIZE',
             'OMPI_COMM_WORLD_LOCAL_RANK'),
            'start it with mpirun -np N python tools/train.py CONFIG '
            '--launcher mpi'),
}


def one_line(error: BaseException) -> str:
    """The message of ``error``; for one re-raised by a DataLoader worker
    (its text ends with the worker's traceback), its last line."""
    text = str(error).strip()
    if 'Original Traceback' in text:
        last = text.splitlines()[-1]
        text = last.split(': ', 1)[-1] if ': ' in last else last
    return text


def run_tool(main: Callable[[], Any]) -> Any:
    """Run a tool's ``main``; a user error prints ``error: MESSAGE`` on
    stderr and exits with status 1."""
    try:
        return main()
    except USER_ERRORS as e:
        print(f'error: {one_line(e)}', file=sys.stderr)
        raise SystemExit(1)


def add_preflight_arguments(parser, checks: str, launcher: str) -> None:
    """The tools' ``--strict-data`` and ``--preflight-only`` switches."""
    parser.add_argument(
        '--strict-data', action='store_true',
        help='COCO boxes of zero/negative size or outside their image are '
        'an error (default: a warning naming them)')
    parser.add_argument(
        '--preflight-only', action='store_true',
        help=f'run the checks ({checks}) and exit; {launcher} runs this '
        'first')


def check_launcher(launcher: str) -> None:
    """``--launcher`` needs the environment its launcher sets; without it
    mmengine fails deep inside ``init_dist`` (or waits for ranks that never
    come). Checked before anything is built or created."""
    if launcher not in LAUNCHER_ENV:
        return
    names, fix = LAUNCHER_ENV[launcher]
    missing = [n for n in names if n not in os.environ]
    if missing:
        raise PreflightError(
            f'--launcher {launcher} outside its launcher: '
            f'{", ".join(missing)} not set; {fix}. For one process, leave '
            '--launcher out.')


def model_checkpoint_kind(cfg) -> Optional[Tuple[str, str]]:
    """(kind, what) of the checkpoint that ``tools/test.py`` needs for the
    config's model, or None when any will do."""
    scope = cfg.get('default_scope', 'mmpretrain')
    mtype = str(cfg.get('model', {}).get('type', ''))
    if scope == 'mmdet':
        return 'detector', 'testing a detector (a trained mmdet checkpoint)'
    if scope == 'mmseg':
        return 'segmentor', 'testing a segmentor (a trained mmseg checkpoint)'
    if mtype == 'SemAIM':
        return 'semaim', 'SemAIM (a SemAIM pre-training checkpoint)'
    if mtype == 'ImageClassifier':
        return 'classifier', 'testing a classifier (a fine-tuned checkpoint)'
    return None


def check_checkpoint(path: str, kinds: Optional[Sequence[str]],
                     what: str) -> None:
    """``path`` exists, is complete and holds one of ``kinds`` (any kind
    when None)."""
    if '://' in str(path):
        return
    if not osp.isfile(path):
        raise PreflightError(f'checkpoint {path!r} does not exist')
    problem = checkpoint_problem(path)
    if problem is not None:
        raise PreflightError(f'checkpoint {path!r} cannot be used: {problem}'
                             '; pass a complete checkpoint')
    kind = checkpoint_kind(path) if kinds else None
    if kind is not None and kind not in kinds:
        raise PreflightError(f'checkpoint {path!r}: '
                             f'{kind_mismatch(kind, what)}')


def check_amp_device(cfg) -> None:
    """AMP needs an accelerator; say how to run the config in fp32."""
    wrapper = cfg.get('optim_wrapper') or {}
    if wrapper.get('type') != 'AmpOptimWrapper':
        return
    from mmengine.device import get_device
    if get_device() != 'cpu':
        return
    name = cfg.filename or 'CONFIG'
    raise PreflightError(
        'AMP (--amp, or optim_wrapper.type=AmpOptimWrapper in the config) '
        'needs a GPU, and this machine has none. To train in fp32 here: '
        f'python tools/train.py {name} --fp32 (without --amp); on GPUs the '
        'config keeps AMP.')


def check_images(paths: Iterable[str]) -> None:
    """Image files a tool reads directly exist and decode completely."""
    loader = SafeLoadImageFromFile(on_error='raise')
    for path in paths:
        try:
            loader(dict(img_path=path))
        except BadImageError as e:
            raise PreflightError(f'{e}'.split(' Fix:')[0] +
                                 '. Fix: re-download the file or leave it '
                                 'out.') from None


def _safe_loading(pipeline: Optional[list]) -> None:
    for i, step in enumerate(pipeline or []):
        if not isinstance(step, dict) or step.get('type') not in LOADERS or \
                step.get('file_client_args') is not None:
            continue
        keep = {k: step[k] for k in ('color_type', 'imdecode_backend',
                                     'to_float32', 'backend_args')
                if k in step}
        pipeline[i] = dict(type='mmpretrain.SafeLoadImageFromFile',
                           on_error='raise', **keep)


def tool_datasets(cfg, tool: str) -> List[Any]:
    """The dataset configs ``tool`` reads."""
    def dataset(key):
        loader = cfg.get(key)
        return loader.get('dataset') if loader else None

    if tool in ('train', 'demo'):
        found = [dataset('train_dataloader')]
        if cfg.get('val_cfg'):
            found.append(dataset('val_dataloader'))
    elif tool == 'test':
        found = [dataset('test_dataloader')]
    elif tool == 'knn' and cfg.get('knn'):
        found = [cfg.knn.get('bank_dataset'), cfg.knn.get('query_dataset')]
    elif tool == 'knn':
        found = [dataset('train_dataloader'), dataset('val_dataloader')]
    else:
        found = []
    return [d for d in found if d]


def check_sample_iteration(cfg) -> None:
    """SemAIM seeds its order noise by the iteration that
    ``SampleIterationHook`` writes into the data samples: a training config
    without the hook would fail at its first step."""
    if (cfg.get('model') or {}).get('type') != 'SemAIM':
        return
    hooks = list((cfg.get('default_hooks') or {}).values()) + list(
        cfg.get('custom_hooks') or [])
    if not any(h and h.get('type') == 'SampleIterationHook' for h in hooks):
        raise PreflightError(
            'a SemAIM training config needs default_hooks=dict('
            "sample_iteration=dict(type='SampleIterationHook')) (it hands "
            'the iteration to the order noise); inherit '
            'configs/_base_/default_runtime.py or add it')


def preflight(cfg, tool: str, checkpoint: Optional[str] = None,
              datasets: Optional[Sequence[Any]] = None,
              images: Sequence[str] = (), strict: bool = False) -> None:
    """Check what ``tool`` is about to read; raise a :data:`USER_ERRORS`
    error naming the fix. ``strict`` turns bad COCO boxes into an error.
    Evaluation datasets are switched to raising on bad images (in place)."""
    if tool not in TOOLS:
        raise ValueError(f'tool must be one of {TOOLS}, got {tool!r}')
    found = tool_datasets(cfg, tool) if datasets is None else list(datasets)
    for i, ds in enumerate(found):
        check_dataset_cfg(ds, strict)
        if tool != 'train' or i > 0:
            _safe_loading(ds.get('pipeline'))
    if tool == 'train':
        check_checkpoint_cfg(cfg)
        check_sample_iteration(cfg)
    if checkpoint and checkpoint != 'none':
        if tool in TOOL_CHECKPOINTS:
            kinds, what = TOOL_CHECKPOINTS[tool]
        else:
            spec = model_checkpoint_kind(cfg)
            kinds, what = ((spec[0], ), spec[1]) if spec else (None, '')
        check_checkpoint(checkpoint, kinds, what)
    check_images(images)
    if tool in ('train', 'demo'):
        check_amp_device(cfg)
