"""Crash-safe checkpoints: atomic writes, complete-file resume, kind checks.

:class:`SafeCheckpointHook` replaces mmengine's ``CheckpointHook`` in
``configs/_base_/default_runtime.py``. Compared with upstream (mmengine 0.10.7)
it

* writes every checkpoint atomically (``semaim_mm.compat`` shim of
  ``save_checkpoint``: temporary file in the same directory, fsync, rename),
  and ``last_checkpoint`` the same way;
* prunes old checkpoints (``max_keep_ckpts``) only *after* the new one is
  complete (upstream deletes first, so a crash while saving leaves N-1);
* refuses to save a model with NaN/Inf weights;
* before ``--resume`` (auto or explicit) checks that the checkpoint is a
  complete file: a truncated latest checkpoint is skipped with a warning in
  favour of the newest complete one; an explicit truncated path is an error;
* checks ``load_from`` / ``--resume`` files are of the right kind for the model
  (a detector checkpoint given to SemAIM pre-training is an error naming the
  fix); an authors' checkpoint as ``load_from`` is converted on the fly
  (:data:`REFERENCE_SCHEME`), as ``--resume`` an error naming the converter;
* removes temporary files left by a process killed while saving.
"""
import argparse
import glob
import os
import os.path as osp
import re
import zipfile
from typing import List, Optional

import torch
from mmengine.dist import is_main_process
from mmengine.hooks import CheckpointHook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmengine.runner import CheckpointLoader
from mmpretrain.registry import HOOKS

from ..checkpoints import (BLUR_KEY, check_reference_blur, detect_format,
                           read_checkpoint, reference_to_semaim,
                           state_dict_of)
from ..compat import TMP_MARK, atomic_write_bytes

_STEP = re.compile(r'(?:epoch|iter)_(\d+)\.pth$')


class CheckpointCheckError(RuntimeError):
    """A checkpoint cannot be used for what the config asks."""


def checkpoint_problem(path: str) -> Optional[str]:
    """Why ``path`` is not a complete torch checkpoint, or None if it is.

    Cheap: reads the zip central directory (at the end of the file, so a
    truncated file fails) and CRC-checks the pickle record. Legacy
    (non-zip) torch files are accepted if they are non-empty.
    """
    if not osp.isfile(path):
        return 'file does not exist'
    size = osp.getsize(path)
    if size == 0:
        return 'file is empty (0 bytes)'
    with open(path, 'rb') as f:
        magic = f.read(4)
    if magic != b'PK\x03\x04':
        # torch's legacy (pre-1.6) format starts with a pickle protocol byte.
        return None if magic[:1] == b'\x80' else (
            f'not a torch checkpoint (starts with {magic!r})')
    try:
        with zipfile.ZipFile(path) as zf:
            pkl = [n for n in zf.namelist() if n.endswith('data.pkl')]
            if not pkl:
                return 'zip archive without data.pkl'
            with zf.open(pkl[0]) as rec:  # CRC checked on read
                while rec.read(1 << 20):
                    pass
    except (zipfile.BadZipFile, EOFError, OSError, ValueError) as e:
        return f'truncated or corrupt ({size} bytes): {e}'
    return None


def list_checkpoints(folder: str) -> List[str]:
    """``epoch_*.pth`` / ``iter_*.pth`` in ``folder``, newest step first."""
    found = []
    for path in glob.glob(osp.join(folder, '*.pth')):
        m = _STEP.search(osp.basename(path))
        if m:
            found.append((int(m.group(1)), osp.getmtime(path), path))
    return [p for _, _, p in sorted(found, reverse=True)]


def find_complete_checkpoint(work_dir: str, warn: bool = True
                             ) -> Optional[str]:
    """The checkpoint to auto-resume from: the one ``last_checkpoint`` names
    if complete, else the newest complete ``epoch_*/iter_*.pth`` (warning
    about each skipped file)."""
    candidates = []
    marker = osp.join(work_dir, 'last_checkpoint')
    if osp.isfile(marker):
        with open(marker) as f:
            named = f.read().strip()
        if named:
            candidates.append(named)
    candidates += list_checkpoints(work_dir)
    seen = set()
    for path in candidates:
        if path in seen:
            continue
        seen.add(path)
        problem = checkpoint_problem(path)
        if problem is None:
            return path
        if warn:
            print_log(
                f'Skipping checkpoint {path} for resume: {problem}. Looking '
                'for the previous complete checkpoint.', logger='current',
                level=30)
    return None


# --------------------------------------------------------- kind check
# load_from of an authors' checkpoint: mmengine loads it through this scheme,
# converted to SemAIM keys in memory (the original file is not touched).
REFERENCE_SCHEME = 'semaim-reference://'

_KIND_FIXES = {
    'detector': 'it is a detector checkpoint (mmdet); pre-training needs a '
    'SemAIM pre-training checkpoint (work_dirs/.../iter_N.pth)',
    'segmentor': 'it is a segmentor checkpoint (mmseg); pre-training needs a '
    'SemAIM pre-training checkpoint',
    'classifier': 'it is a classifier (fine-tuning) checkpoint; pre-training '
    'needs a SemAIM pre-training checkpoint',
    'backbone': 'it holds a bare backbone (semaim_to_backbone output); '
    'pre-training needs the full SemAIM checkpoint',
    'timm-vit': 'it is a timm ViT; pre-training needs a SemAIM checkpoint',
}


@CheckpointLoader.register_scheme(prefixes=REFERENCE_SCHEME, force=True)
def load_reference_checkpoint(filename: str, map_location=None) -> dict:
    """``semaim-reference://PATH``: the authors' checkpoint at PATH as a
    SemAIM state dict (:func:`semaim_mm.checkpoints.reference_to_semaim`;
    its blur buffer was checked against the model by
    :func:`check_checkpoint_kind`)."""
    path = filename[len(REFERENCE_SCHEME):]
    sd = state_dict_of(read_checkpoint(path, source='load_from'))
    return dict(state_dict=reference_to_semaim(sd, blur=False),
                meta=dict(converted_from=path))


def kind_problem(kind: str, resume: bool) -> Optional[str]:
    """Why a checkpoint of ``kind`` (:func:`detect_format`) cannot start
    SemAIM pre-training, or None. The authors' checkpoint is fine for
    ``load_from`` (converted on the fly), not for ``--resume`` (its optimizer
    state is in their parameter order)."""
    if kind == 'semaim' or (kind == 'reference' and not resume):
        return None
    if kind == 'reference':
        return ("it is an authors' reference (skyoux/SemAIM) checkpoint, "
                'whose optimizer state cannot be resumed here: start from its'
                ' weights with load_from=PATH (no --resume; converted on the '
                'fly) or convert it: python tools/model_converters/'
                'semaim_reference.py IN OUT')
    return _KIND_FIXES.get(kind, 'its keys match no known layout (expected '
                           'backbone.layers.* and neck.blocks.*)')


def peek_state_dict(path: str) -> Optional[dict]:
    """The state dict of ``path`` (memory-mapped, weights only), or None if
    torch cannot read it that way (mmengine then reports it itself)."""
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            ckpt = torch.load(path, map_location='cpu', weights_only=True,
                              mmap=True)
    except Exception:
        return None
    return state_dict_of(ckpt) if isinstance(ckpt, dict) else {}


def check_checkpoint_kind(path: str, model, resume: bool) -> Optional[str]:
    """Raise :class:`CheckpointCheckError` when ``path`` holds weights of the
    wrong kind for ``model`` (checked for SemAIM pre-training models only:
    those whose own keys are of the ``semaim`` format). For an authors'
    checkpoint the blur buffer must match the model's RGB target blur.
    Returns the checkpoint's format, None when not checked."""
    if detect_format(model.state_dict()) != 'semaim' or not osp.isfile(path):
        return None
    sd = peek_state_dict(path)
    if sd is None:
        return None
    kind = detect_format(sd)
    what = '--resume' if resume else 'load_from'
    problem = kind_problem(kind, resume)
    if problem is not None:
        raise CheckpointCheckError(
            f'{what}={path!r} cannot be used for SemAIM pre-training: '
            f'{problem}.')
    target = getattr(model, 'target_generator', None)
    if kind == 'reference' and BLUR_KEY in sd and hasattr(target, 'kernel'):
        try:
            check_reference_blur(sd[BLUR_KEY], target.kernel)
        except ValueError as e:
            raise CheckpointCheckError(f'load_from={path!r}: {e}') from None
    return kind


def _state_is_finite(model) -> Optional[str]:
    if is_model_wrapper(model):
        model = model.module
    for name, value in model.state_dict().items():
        if torch.is_tensor(value) and value.is_floating_point() and \
                not torch.isfinite(value).all():
            return name
    return None


@HOOKS.register_module()
class SafeCheckpointHook(CheckpointHook):
    """mmengine ``CheckpointHook`` that never leaves a partial or NaN
    checkpoint behind and resumes only from complete files.

    Takes every ``CheckpointHook`` argument, plus:

    Args:
        check_finite: refuse to save a model with NaN/Inf weights (raises,
            so the previous checkpoints stay the latest). Default True.
        check_kind: check ``load_from`` / ``--resume`` checkpoints hold
            SemAIM pre-training weights when the model is SemAIM.
    """

    def __init__(self, *args, check_finite: bool = True,
                 check_kind: bool = True, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.check_finite = check_finite
        self.check_kind = check_kind

    # ------------------------------------------------------------ resume
    def before_run(self, runner) -> None:
        super().before_run(runner)
        if is_main_process():
            self._remove_stale_tmp(runner.work_dir)
            if self.out_dir != runner.work_dir and osp.isdir(
                    str(self.out_dir)):
                self._remove_stale_tmp(str(self.out_dir))
        load_from = runner._load_from
        if runner._resume and load_from is None:
            chosen = find_complete_checkpoint(runner.work_dir)
            named = self._read_last(runner.work_dir)
            if chosen is None:
                if named or list_checkpoints(runner.work_dir):
                    print_log(
                        f'No complete checkpoint in {runner.work_dir}; '
                        'training starts from scratch.', logger='current',
                        level=30)
                # mmengine reads last_checkpoint itself: make it find none.
                runner._resume = False
            else:
                if named and named != chosen and is_main_process():
                    atomic_write_bytes(
                        osp.join(runner.work_dir, 'last_checkpoint'),
                        lambda f: f.write(chosen.encode()))
                runner._load_from = chosen  # resume exactly this file
                load_from = chosen
        elif load_from is not None and '://' not in str(load_from):
            problem = checkpoint_problem(load_from)
            if problem is not None:
                older = [p for p in list_checkpoints(osp.dirname(load_from))
                         if p != load_from and checkpoint_problem(p) is None]
                hint = (f' The newest complete one there is {older[0]}.'
                        if older else '')
                raise CheckpointCheckError(
                    f'Cannot {"resume" if runner._resume else "load"} from '
                    f'{load_from}: {problem}.{hint} Pass a complete '
                    'checkpoint, or --resume with no path to pick the '
                    'newest complete one in the work dir.')
        if self.check_kind and load_from is not None and \
                '://' not in str(load_from):
            model = runner.model.module if is_model_wrapper(
                runner.model) else runner.model
            kind = check_checkpoint_kind(load_from, model,
                                         bool(runner._resume))
            if kind == 'reference':
                runner._load_from = REFERENCE_SCHEME + load_from
                print_log(
                    f"load_from={load_from!r} is an authors' (skyoux/SemAIM) "
                    'checkpoint: loading it converted to this project\'s '
                    'keys (semaim_mm.checkpoints.reference_to_semaim).',
                    logger='current')

    @staticmethod
    def _read_last(work_dir: str) -> Optional[str]:
        marker = osp.join(work_dir, 'last_checkpoint')
        if not osp.isfile(marker):
            return None
        with open(marker) as f:
            return f.read().strip() or None

    @staticmethod
    def _remove_stale_tmp(folder: str) -> None:
        for tmp in glob.glob(osp.join(folder, '.*' + TMP_MARK + '*')):
            print_log(f'Removing {tmp}, a partial checkpoint left by a '
                      'process killed while saving.', logger='current',
                      level=30)
            try:
                os.remove(tmp)
            except OSError:
                pass

    # -------------------------------------------------------------- save
    def _save_checkpoint_with_step(self, runner, step, meta):
        if self.check_finite:
            bad = _state_is_finite(runner.model)
            if bad is not None:
                raise FloatingPointError(
                    f'Refusing to save checkpoint at step {step}: weight '
                    f'{bad!r} is NaN/Inf. The last good checkpoint is '
                    f'{self._read_last(runner.work_dir)}. Lower the learning '
                    'rate, enable clip_grad, or use NonFiniteLossHook '
                    "action='skip'.")
        # Bookkeeping first, so the saved message hub lists this step too.
        drop = []
        if self.max_keep_ckpts > 0:
            # keep_ckpt_ids is a deque(maxlen=max_keep_ckpts) built by
            # CheckpointHook.before_train: pop before appending.
            if not (self.keep_ckpt_ids and self.keep_ckpt_ids[-1] == step):
                while len(self.keep_ckpt_ids) >= self.max_keep_ckpts:
                    drop.append(self.keep_ckpt_ids.popleft())
                self.keep_ckpt_ids.append(step)
            runner.message_hub.update_info('keep_ckpt_ids',
                                           list(self.keep_ckpt_ids))
        ckpt_filename = self.filename_tmpl.format(step)
        self.last_ckpt = self.file_backend.join_path(self.out_dir,
                                                     ckpt_filename)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)
        # Save (atomically, via the semaim_mm.compat shim) ...
        runner.save_checkpoint(
            self.out_dir,
            ckpt_filename,
            self.file_client_args,
            save_optimizer=self.save_optimizer,
            save_param_scheduler=self.save_param_scheduler,
            meta=meta,
            by_epoch=self.by_epoch,
            backend_args=self.backend_args,
            **self.args)
        if not is_main_process():
            return
        # ... then point last_checkpoint at it (atomically) ...
        last = str(self.last_ckpt)
        atomic_write_bytes(
            osp.join(runner.work_dir, 'last_checkpoint'),
            lambda f: f.write(last.encode()))
        # ... and only then delete the oldest ones.
        for old in drop:
            path = self.file_backend.join_path(
                self.out_dir, self.filename_tmpl.format(old))
            if self.file_backend.isfile(path):
                self.file_backend.remove(path)
            elif self.file_backend.isdir(path):
                self.file_backend.rmtree(path)
