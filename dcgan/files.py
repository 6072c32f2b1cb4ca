"""Files written whole or not at all: a reader, or a process stopped mid-write, finds the old
file or the complete new one, never a torn one (the rename is atomic within a folder)."""

import contextlib
import json
import os
import re
from pathlib import Path


def _temporary_path(path):
    # The process id keeps two writers of one path apart; the leading dot hides it.
    return path.parent / f".{path.name}.{os.getpid()}.tmp"


def temporary_names(pattern):
    """The names `replaced_atomically` gives, while they are written, to files whose names
    match the regular expression `pattern`: what a write cut short by a kill leaves."""
    return re.compile(rf"\.(?:{pattern})\..+\.tmp")


@contextlib.contextmanager
def replaced_atomically(path, temporary=None):
    """Yields a temporary path next to `path`; once the block ends, it becomes `path` by rename.

    If the block raises, the temporary file is removed and `path` is left as it was. Parent
    folders are created. `temporary` names the temporary file where the usual name (which
    contains the file's own) would mislead a reader watching the folder.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Named before anything exists, so that an interrupt at any moment, even while the file is
    # being created, is cleaned up.
    tmp = path.parent / temporary if temporary else _temporary_path(path)
    try:
        yield str(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_bytes_atomically(path, data: bytes) -> None:
    with replaced_atomically(path) as tmp, open(tmp, "wb") as f:
        f.write(data)


def write_lines_atomically(path, lines):
    with replaced_atomically(path) as tmp, open(tmp, "w") as f:
        f.writelines(lines)


def write_json_atomically(path, obj, sort_keys=True):
    """`obj` as indented JSON; `sort_keys=False` keeps an order that means something."""
    write_lines_atomically(path, [json.dumps(obj, indent=2, sort_keys=sort_keys), "\n"])
