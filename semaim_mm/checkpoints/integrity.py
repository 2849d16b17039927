"""Is a file a complete torch checkpoint? (cheap, before anything loads it)."""
import os.path as osp
import zipfile
from typing import Optional

# mmengine's pointer file in a work dir: the path of the latest checkpoint.
LAST = 'last_checkpoint'


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
        if magic[:1] == b'\x80':
            return None
        named = _pointer_target(path, size)
        if named is not None:
            return (f"it is mmengine's {LAST} pointer, not a checkpoint; "
                    f'pass the file it names: {named}')
        return f'not a torch checkpoint (starts with {magic!r})'
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


def _pointer_target(path: str, size: int) -> Optional[str]:
    """The checkpoint a ``last_checkpoint``-like text file names, or
    None."""
    if size > 4096:
        return None
    with open(path, 'rb') as f:
        text = f.read().decode('utf-8', 'replace').strip()
    if '\n' in text or not text.endswith('.pth'):
        return None
    return text if osp.isabs(text) else osp.join(osp.dirname(path), text)
