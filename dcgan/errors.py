"""The one exception type users see, and the one-line reason of any error it wraps."""

# The OS errors of a write that cannot succeed until the user acts.
FULL_DISK = {"No space left on device", "Disk quota exceeded", "File too large",
             "Read-only file system"}
WRITE_ERRORS = FULL_DISK | {"Permission denied", "Operation not permitted",
                            "Input/output error", "Not a directory"}


class UserError(Exception):
    """Bad input from the user; main entry points print it as one line and exit non-zero."""


def reason(error):
    """The useful part of an exception's message: `No space left on device`, not a stack.

    OSError gives its strerror; a TensorFlow error (whose message can run to pages) gives the
    OS reason it contains, else its first line.
    """
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    text = str(getattr(error, "message", None) or error).strip()
    for known in WRITE_ERRORS:
        if known in text:
            return known
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[0][:200] if lines else type(error).__name__
