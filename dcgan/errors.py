"""The one exception type users see: a single line naming the problem and the fix."""


class UserError(Exception):
    """Bad input from the user; main entry points print it as one line and exit non-zero."""
