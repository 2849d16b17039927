"""Checkpoint files on disk: atomic writes, completeness, what to resume.

``last_checkpoint`` holds a path relative to the work dir, so a copied or
moved work dir resumes from its own files; an absolute path outside the work
dir (an older run, or a copy of one) is never followed by an automatic
resume: the user has to name that file with ``--resume PATH``.
"""
import glob
import os
import os.path as osp
import re
import tempfile
from typing import Any, Callable, Iterable, List, Optional

from mmengine.logging import print_log

from ..checkpoints.integrity import LAST, checkpoint_problem

TMP_MARK = '.tmp-'
_STEP = re.compile(r'(?:epoch|iter)_(\d+)\.pth$')


def fsync_dir(folder: str) -> None:
    """Make a rename in ``folder`` durable (ignored where unsupported)."""
    try:
        dfd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:  # some file systems refuse fsync on directories
        pass


def commit_file(tmp: str, path: str) -> None:
    """fsync ``tmp`` and rename it onto ``path`` (atomic on POSIX)."""
    with open(tmp, 'rb+') as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fsync_dir(osp.dirname(osp.abspath(path)) or '.')


def atomic_write_bytes(path: str, write: Callable[[Any], None]) -> None:
    """Write ``path`` atomically: ``write(f)`` fills a temporary file in the
    same directory, which is fsynced and renamed onto ``path``."""
    folder = osp.dirname(osp.abspath(path)) or '.'
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        dir=folder, prefix='.' + osp.basename(path) + TMP_MARK)
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; match open()
        with os.fdopen(fd, 'wb') as f:
            write(f)
        commit_file(tmp, path)
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise


def list_checkpoints(folder: str) -> List[str]:
    """``epoch_*.pth`` / ``iter_*.pth`` in ``folder``, newest step first."""
    found = []
    for path in glob.glob(osp.join(folder, '*.pth')):
        m = _STEP.search(osp.basename(path))
        if m:
            found.append((int(m.group(1)), osp.getmtime(path), path))
    return [p for _, _, p in sorted(found, reverse=True)]


def is_inside(path: str, folder: str) -> bool:
    path, folder = osp.realpath(path), osp.realpath(folder)
    return osp.commonpath([path, folder]) == folder


def read_last_checkpoint(work_dir: str) -> Optional[str]:
    """The path ``last_checkpoint`` names, resolved against ``work_dir``."""
    marker = osp.join(work_dir, LAST)
    if not osp.isfile(marker):
        return None
    with open(marker) as f:
        named = f.read().strip()
    if not named:
        return None
    return named if osp.isabs(named) else osp.join(work_dir, named)


def write_last_checkpoint(work_dir: str, path: str) -> None:
    """Point ``last_checkpoint`` at ``path`` (relative when inside)."""
    if is_inside(path, work_dir):
        path = osp.relpath(osp.realpath(path), osp.realpath(work_dir))
    atomic_write_bytes(osp.join(work_dir, LAST),
                       lambda f: f.write(str(path).encode()))


def find_complete_checkpoint(work_dir: str, warn: bool = True,
                             also: Iterable[str] = ()) -> Optional[str]:
    """The checkpoint to auto-resume from: the one ``last_checkpoint`` names
    if complete and inside ``work_dir`` (or one of the folders ``also``),
    else the newest complete ``epoch_*/iter_*.pth`` there (warning about
    each skipped file)."""
    roots = [work_dir, *also]
    candidates = []
    named = read_last_checkpoint(work_dir)
    if named and any(is_inside(named, r) for r in roots):
        candidates.append(named)
    elif named and warn:
        print_log(
            f'{osp.join(work_dir, LAST)} names {named}, outside the work dir '
            f'{osp.abspath(work_dir)}; not following it (to resume from that '
            f'file, pass --resume {named}).', logger='current', level=30)
    for root in roots:
        candidates += list_checkpoints(root)
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


class NothingToResumeError(FileNotFoundError):
    """``--resume`` found no checkpoint to resume from."""


def resume_checkpoint(work_dir: str) -> str:
    """The complete checkpoint ``--resume`` (no path) continues from;
    raises :class:`NothingToResumeError` naming the folder searched."""
    chosen = find_complete_checkpoint(work_dir)
    if chosen is not None:
        return chosen
    named = read_last_checkpoint(work_dir)
    where = osp.abspath(work_dir)
    if named and not is_inside(named, work_dir):
        raise NothingToResumeError(
            f'--resume: {where} holds no complete checkpoint of its own; its '
            f'last_checkpoint names {named}, outside the work dir. To resume '
            f'from that file, pass it explicitly: --resume {named}')
    raise NothingToResumeError(
        f'--resume: no complete checkpoint to resume in {where} (searched '
        f'{LAST} and iter_*.pth / epoch_*.pth). Check --work-dir; to start '
        'from scratch when there is none (job schedulers that restart '
        'blindly), use --resume-or-start.')
