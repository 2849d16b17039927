"""Crash-safe checkpoints: atomic writes, complete-file resume, kind checks.

:class:`SafeCheckpointHook` replaces mmengine's ``CheckpointHook`` in
``configs/_base_/default_runtime.py``. Compared with upstream (mmengine 0.10.7)
it

* writes every checkpoint atomically: mmengine writes the bytes into a
  temporary file in the same folder (``.iter_N.pth.tmp-PID``), which is
  fsynced and renamed onto ``iter_N.pth``; ``last_checkpoint`` (a path
  relative to the work dir) is written the same way, after the checkpoint;
* prunes old checkpoints (``max_keep_ckpts``) only *after* the new one is
  complete (upstream deletes first, so a crash while saving leaves N-1), and
  never deletes a complete checkpoint while an incomplete one is kept;
* refuses to save a model with NaN/Inf weights;
* before ``--resume`` (auto or explicit) checks that the checkpoint is a
  complete file inside the work dir: a truncated latest checkpoint is
  skipped with a warning in favour of the newest complete one; an explicit
  truncated path is an error;
* checks ``load_from`` / ``--resume`` files are of the right kind for the model
  (a detector checkpoint given to SemAIM pre-training is an error naming the
  fix); an authors' checkpoint as ``load_from`` is converted on the fly
  (:data:`REFERENCE_SCHEME`), as ``--resume`` an error naming the converter;
* removes temporary files left by a process killed while saving.
"""
import glob
import os
import os.path as osp
from typing import List, Optional

import torch
from mmengine.dist import is_main_process
from mmengine.fileio import LocalBackend
from mmengine.hooks import CheckpointHook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmengine.runner import CheckpointLoader
from mmpretrain.registry import HOOKS

from ..checkpoints import (BLUR_KEY, check_reference_blur, detect_format,
                           read_checkpoint, reference_to_semaim,
                           state_dict_of)
from ..checkpoints.kinds import kind_problem, peek_state_dict
from .checkpoint_files import (TMP_MARK, checkpoint_problem, commit_file,
                               find_complete_checkpoint, list_checkpoints,
                               read_last_checkpoint, write_last_checkpoint)
from .nonfinite import nonfinite_fixes


class CheckpointCheckError(RuntimeError):
    """A checkpoint cannot be used for what the config asks."""


class CheckpointSaveError(OSError):
    """A checkpoint could not be written (disk full, quota, permissions)."""


def save_atomically(runner, out_dir: str, filename: str, backend=None,
                    **kwargs) -> str:
    """``runner.save_checkpoint(out_dir, filename, **kwargs)`` through a
    temporary file that is fsynced and renamed onto ``filename`` (local
    files, ``backend`` None or mmengine's ``LocalBackend``; other file
    backends are written directly), then ``last_checkpoint``
    names it. A failed write removes the temporary file (a full disk stays
    usable) and raises :class:`CheckpointSaveError` naming the previous,
    intact checkpoint. Returns the path written."""
    local = backend is None or isinstance(backend, LocalBackend)
    path = osp.join(str(out_dir), filename) if local else \
        backend.join_path(str(out_dir), filename)
    name = f'.{filename}{TMP_MARK}{os.getpid()}' if local else filename
    tmp = osp.join(str(out_dir), name)
    try:
        runner.save_checkpoint(out_dir, name, **kwargs)
        if is_main_process():
            if local:  # complete on disk before any name points at it
                commit_file(tmp, path)
            write_last_checkpoint(runner.work_dir, path)
    except BaseException as e:
        if local and osp.exists(tmp):
            os.remove(tmp)
        if not isinstance(e, OSError):
            raise
        previous = read_last_checkpoint(runner.work_dir)
        intact = (f'the previous checkpoint {previous} is intact: free '
                  'space (or fix the folder) and resume with --resume'
                  if previous else 'no checkpoint was saved before')
        raise CheckpointSaveError(
            f'cannot save checkpoint {path}: {e.strerror or e}; the partial '
            f'file was removed and {intact}') from None
    return path


# load_from of an authors' checkpoint: mmengine loads it through this scheme,
# converted to SemAIM keys in memory (the original file is not touched).
REFERENCE_SCHEME = 'semaim-reference://'


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
        return None  # unreadable files are reported by mmengine itself
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


def _nonfinite_weight(model) -> Optional[str]:
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
        if runner._resume and runner._load_from is None:
            self._choose_auto_resume(runner)
        elif runner._load_from is not None and \
                '://' not in str(runner._load_from):
            self._check_complete(runner._load_from, bool(runner._resume))
        load_from = runner._load_from
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

    def _choose_auto_resume(self, runner) -> None:
        """mmengine's auto-resume (``resume=True``, no ``load_from``): the
        newest complete checkpoint of this work dir, else from scratch."""
        also = [str(self.out_dir)] if str(self.out_dir) != runner.work_dir \
            else []
        chosen = find_complete_checkpoint(runner.work_dir, also=also)
        if chosen is None:
            if read_last_checkpoint(runner.work_dir) or \
                    list_checkpoints(runner.work_dir):
                print_log(
                    f'No complete checkpoint in {runner.work_dir}; '
                    'training starts from scratch.', logger='current',
                    level=30)
            # mmengine reads last_checkpoint itself: make it find none.
            runner._resume = False
            return
        if read_last_checkpoint(runner.work_dir) != chosen and \
                is_main_process():
            write_last_checkpoint(runner.work_dir, chosen)
        runner._load_from = chosen  # resume exactly this file

    @staticmethod
    def _check_complete(load_from: str, resume: bool) -> None:
        problem = checkpoint_problem(load_from)
        if problem is None:
            return
        older = [p for p in list_checkpoints(osp.dirname(load_from))
                 if p != load_from and checkpoint_problem(p) is None]
        hint = (f' The newest complete one there is {older[0]}.'
                if older else '')
        raise CheckpointCheckError(
            f'Cannot {"resume" if resume else "load"} from {load_from}: '
            f'{problem}.{hint} Pass a complete checkpoint, or --resume with '
            'no path to pick the newest complete one in the work dir.')

    def before_train(self, runner) -> None:
        if self.max_keep_ckpts > 0 and is_main_process():
            # Trim the resumed list here, so upstream deletes nothing blindly.
            ids = list(runner.message_hub.get_info('keep_ckpt_ids') or [])
            drop = ids[:max(0, len(ids) - self.max_keep_ckpts)]
            if drop:
                kept = self._prune(ids[len(drop):], drop)
                runner.message_hub.update_info('keep_ckpt_ids', kept)
        super().before_train(runner)
        if runner._resume and runner._load_from is not None:
            # The hub holds the path the checkpoint was written to, which
            # for a copied work dir is the original's.
            self.last_ckpt = runner._load_from
            runner.message_hub.update_info('last_ckpt', self.last_ckpt)

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
    def _path(self, step: int) -> str:
        return self.file_backend.join_path(self.out_dir,
                                           self.filename_tmpl.format(step))

    def _prune(self, keep: List[int], drop: List[int]) -> List[int]:
        """Delete the checkpoints of steps ``drop`` unless one of ``keep`` is
        incomplete; returns the steps still on disk, oldest first."""
        local = isinstance(self.file_backend, LocalBackend)
        broken = [s for s in keep if local and osp.isfile(self._path(s))
                  and checkpoint_problem(self._path(s)) is not None]
        if broken:
            print_log(
                f'Keeping {[self._path(s) for s in drop]}: '
                f'{[self._path(s) for s in broken]} (kept by max_keep_ckpts)'
                ' is incomplete, so the older complete checkpoints stay.',
                logger='current', level=30)
            return [*drop, *keep]
        for old in drop:
            path = self._path(old)
            if self.file_backend.isfile(path):
                self.file_backend.remove(path)
            elif self.file_backend.isdir(path):
                self.file_backend.rmtree(path)
        return list(keep)

    def _save_checkpoint_with_step(self, runner, step, meta):
        if self.check_finite:
            bad = _nonfinite_weight(runner.model)
            if bad is not None:
                raise FloatingPointError(
                    f'Refusing to save checkpoint at step {step}: weight '
                    f'{bad!r} is NaN/Inf. The last good checkpoint is '
                    f'{read_last_checkpoint(runner.work_dir)}. Fix: '
                    f'{nonfinite_fixes(runner.optim_wrapper)}.')
        # Bookkeeping first, so the saved message hub lists this step too.
        drop = []
        if self.max_keep_ckpts > 0:
            if not (self.keep_ckpt_ids and self.keep_ckpt_ids[-1] == step):
                # keep_ckpt_ids is a deque(maxlen=max_keep_ckpts): make room.
                while len(self.keep_ckpt_ids) >= self.max_keep_ckpts:
                    drop.append(self.keep_ckpt_ids.popleft())
                self.keep_ckpt_ids.append(step)
            runner.message_hub.update_info('keep_ckpt_ids',
                                           list(self.keep_ckpt_ids))
        self.last_ckpt = self._path(step)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)
        self.write(runner, self.filename_tmpl.format(step), meta,
                   self.by_epoch)
        if drop and is_main_process():
            self._prune(list(self.keep_ckpt_ids), drop)

    def write(self, runner, filename: str, meta: Optional[dict],
              by_epoch: bool) -> str:
        """Save ``filename`` in ``out_dir`` with this hook's settings,
        atomically (:func:`save_atomically`); returns its path."""
        return save_atomically(
            runner, str(self.out_dir), filename, self.file_backend,
            file_client_args=self.file_client_args,
            save_optimizer=self.save_optimizer,
            save_param_scheduler=self.save_param_scheduler, meta=meta,
            by_epoch=by_epoch, backend_args=self.backend_args, **self.args)
