"""One training run per work dir: a lock file naming the run that holds it.

``WORK_DIR/.run.lock`` holds the host, PID, start time and command of the run
in JSON and is ``flock``-ed while the run lives, so a process killed with
``kill -9`` releases it too: its leftover file is then a stale lock, taken
over by the next run with a message. In a distributed run only global rank 0
takes the lock, for all ranks (``launch_rank``).
"""
import atexit
import fcntl
import json
import os
import os.path as osp
import socket
import sys
import time
from typing import Optional

LOCK_NAME = '.run.lock'


class WorkDirBusyError(RuntimeError):
    """Another run is using the work dir."""


class WorkDirError(OSError):
    """The work dir is a file or cannot be written."""


def launch_rank() -> int:
    """This process's global rank as set by torchrun / slurm / MPI (0 when
    not launched by any of them)."""
    for key in ('RANK', 'SLURM_PROCID', 'OMPI_COMM_WORLD_RANK', 'PMI_RANK'):
        if os.environ.get(key, '').isdigit():
            return int(os.environ[key])
    return 0


def _describe(info: dict) -> str:
    started = info.get('started')
    when = time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(started)) \
        if isinstance(started, (int, float)) else '?'
    return (f"host {info.get('host', '?')}, pid {info.get('pid', '?')}, "
            f"started {when}: {info.get('command', '?')}")


def _read(fd: int) -> dict:
    os.lseek(fd, 0, os.SEEK_SET)
    data = b''
    while True:
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        data += chunk
    try:
        info = json.loads(data.decode() or '{}')
    except ValueError:
        return {'command': 'unreadable lock file'}
    return info if isinstance(info, dict) else {}


class WorkDirLock:
    """``flock``-ed lock file in ``work_dir``; :meth:`acquire` raises
    :class:`WorkDirBusyError` naming the holder when another run has it."""

    def __init__(self, work_dir: str) -> None:
        self.work_dir = osp.abspath(work_dir)
        self.path = osp.join(self.work_dir, LOCK_NAME)
        self._fd: Optional[int] = None

    def _busy(self, info: dict) -> WorkDirBusyError:
        return WorkDirBusyError(
            f'work dir {self.work_dir} is in use by another run ('
            f'{_describe(info)}). Wait for it to finish or stop it, or pass '
            'another --work-dir.')

    def check(self) -> None:
        """Raise :class:`WorkDirBusyError` if another process holds it."""
        if not osp.isfile(self.path):
            return
        fd = os.open(self.path, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            raise self._busy(_read(fd)) from None
        finally:
            os.close(fd)

    def check_usable(self) -> None:
        """Raise :class:`WorkDirError` when the work dir is a file, or
        cannot be written (read-only file system, permissions); creates
        nothing that stays."""
        folder = self.work_dir
        while not osp.exists(folder):
            folder = osp.dirname(folder)
        if not osp.isdir(folder):
            raise WorkDirError(
                f'work dir {self.work_dir}: {folder} is a file, not a '
                'folder. Pass another --work-dir.')
        try:
            os.close(os.open(self._probe(folder),
                             os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
            os.remove(self._probe(folder))
        except OSError as e:
            raise WorkDirError(
                f'work dir {self.work_dir} cannot be written ({folder}: '
                f'{e.strerror}). Pass a writable --work-dir.') from None

    @staticmethod
    def _probe(folder: str) -> str:
        return osp.join(folder, f'.semaim-write-probe-{os.getpid()}')

    def acquire(self) -> Optional[str]:
        """Take the lock; returns a message when it took over a stale lock
        (a run that ended without releasing it). A work dir this creates is
        removed again by :meth:`release` if nothing was written into it."""
        self.check_usable()
        self._created = not osp.isdir(self.work_dir)
        os.makedirs(self.work_dir, exist_ok=True)
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC,
                         0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                info = _read(fd)
                os.close(fd)
                raise self._busy(info) from None
            try:  # the holder may have released (deleted) it meanwhile
                same = os.path.samestat(os.fstat(fd), os.stat(self.path))
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        previous = _read(fd)
        record = dict(host=socket.gethostname(), pid=os.getpid(),
                      started=time.time(),
                      command=' '.join(sys.argv),
                      world_size=os.environ.get('WORLD_SIZE', '1'))
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, json.dumps(record).encode())
        os.fsync(fd)
        self._fd, self._pid = fd, os.getpid()
        atexit.register(self.release)
        if previous:
            return (f'Took over the stale lock of a run that ended without '
                    f'releasing {self.path} ({_describe(previous)}).')
        return None

    def release(self) -> None:
        if self._fd is None or os.getpid() != self._pid:
            return  # not taken, or a forked child (data loader worker)
        try:
            if os.path.samestat(os.fstat(self._fd), os.stat(self.path)):
                os.remove(self.path)
        except OSError:
            pass
        os.close(self._fd)
        self._fd = None
        if getattr(self, '_created', False):
            try:  # a run that failed before writing anything
                os.rmdir(self.work_dir)
            except OSError:
                pass
