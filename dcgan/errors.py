"""The one exception type users see, and the one-line reason of any error it wraps."""

import os

# The OS errors of a write that cannot succeed until the user acts.
FULL_DISK = {"No space left on device", "Disk quota exceeded", "File too large",
             "Read-only file system"}
WRITE_ERRORS = FULL_DISK | {"Permission denied", "Operation not permitted",
                            "Input/output error", "Not a directory"}


class UserError(Exception):
    """Bad input from the user; main entry points print it as one line and exit non-zero."""


def unwritable_workdir(workdir, error):
    """The UserError for a run or comparison folder that cannot be made or written to."""
    problem = file_in_place_of_folder(workdir)
    if problem:
        return UserError(f"{problem}; choose another --workdir (a new name makes a new run), "
                         "or move the file away")
    return UserError(f"workdir {workdir} is not writable ({reason(error)}); "
                     "choose another --workdir")


def file_in_place_of_folder(workdir):
    """'workdir W is a file, not a folder' (or one of the folders it lies in is), else None."""
    existing = os.path.abspath(workdir)
    while not os.path.lexists(existing):
        existing = os.path.dirname(existing)
    if os.path.isdir(existing):
        return None
    if existing == os.path.abspath(workdir):
        return f"workdir {workdir} is a file, not a folder"
    return f"workdir {workdir}: {existing} is a file, not a folder"


def first_line(error, limit=200):
    """The first non-empty line of an exception's message (a TensorFlow error's can run to
    pages), cut to `limit` characters; the exception's type name if it says nothing."""
    text = str(getattr(error, "message", None) or error).strip()
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        return type(error).__name__
    return lines[0] if len(lines[0]) <= limit else lines[0][:limit - 3] + "..."


def reason(error):
    """The useful part of an exception's message: `No space left on device`, not a stack.

    OSError gives its strerror; a TensorFlow error gives the OS reason it contains, else its
    first line.
    """
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    text = str(getattr(error, "message", None) or error)
    for known in WRITE_ERRORS:
        if known in text:
            return known
    return first_line(error)
