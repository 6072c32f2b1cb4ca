"""What every command-line entry shares: one-line errors, quiet TensorFlow, file logging."""

import logging
import os
import sys
import traceback

from absl import app, flags

from dcgan import config_check
from dcgan.errors import UserError

__all__ = ["UserError", "run_app", "require_config", "log_to_file"]

# TensorFlow's C++ start-up chatter hides the lines users need; keep warnings and errors.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _exit_on_user_error(main):
    def wrapped(argv):
        try:
            return main(argv)
        except UserError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            return 130
    return wrapped


def run_app(main):
    """Run an absl-flags main; bad flags and UserError become one line on stderr and exit 2."""
    app.define_help_flags()
    try:
        argv = flags.FLAGS(sys.argv)
    except Exception as e:  # noqa: BLE001 - a config file can raise anything while it loads
        problem = _flag_problem(e)
        if problem is None:
            raise
        print(f"error: {problem}", file=sys.stderr)
        sys.exit(2)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s",
                        stream=sys.stderr, force=True)
    # TensorFlow's Python INFO lines (one per collective op in a cluster) drown the run's own.
    logging.getLogger("tensorflow").setLevel(logging.WARNING)
    sys.exit(_exit_on_user_error(main)(argv))


def _flag_problem(error):
    """One line saying what is wrong with the command line, or None for an unexpected error."""
    problem = _config_file_problem(error)
    if problem:
        return problem
    if isinstance(error, flags.Error):
        return f"{_first_line(error)}; see --help"
    if isinstance(error, (AttributeError, KeyError)):
        # ml_collections reports an override of a field the config lacks this way.
        while isinstance(error, (AttributeError, KeyError)) and error.args:
            error = error.args[0]  # ConfigDict nests the KeyError inside an AttributeError
        field = _first_line(error).strip("\"'")
        return (f"unknown config field {field!r} in a --config.* override; "
                "--dry_run lists the fields")
    if isinstance(error, (ValueError, TypeError, OSError)):
        return f"{_first_line(error)}; check --config and its overrides"
    return None


def _config_file_problem(error):
    """`cannot load --FLAG=FILE: why` when `error` came from loading a config file, else None.

    ml_collections loads the file while absl parses the flags, and lets whatever the file
    raises escape (TypeError and ValueError wrapped twice); its parser's frame in the
    traceback names the flag and the file.
    """
    while error.__cause__ or error.__context__:  # the first error, not its rewrappings
        error = error.__cause__ or error.__context__
    frames = [frame for frame, _ in traceback.walk_tb(error.__traceback__)]
    loading = [i for i, frame in enumerate(frames)
               if type(frame.f_locals.get("self")).__name__ == "ConfigFileFlagParser"]
    if not loading:
        return None
    frame = frames[loading[-1]]
    where = f"--{frame.f_locals['self'].name}={frame.f_locals.get('path')}"
    if isinstance(error, AttributeError) and loading[-1] == len(frames) - 1:
        return f"cannot load {where}: it defines no get_config(); see configs/default.py"
    return f"cannot load {where}: {type(error).__name__}: {_first_line(error)}"


def _first_line(error):
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


def require_config(flag_values, name):
    """The config of the config-file flag `name`, loaded and checked (config_check)."""
    config = flag_values[name].value
    if config is None:
        raise UserError(f"--{name} is required, e.g. --{name}=configs/mnist.py")
    filename = flag_values[name].config_filename
    if not os.path.isfile(filename.split(":")[0]):
        raise UserError(f"config file {filename} not found; the presets are in configs/")
    try:
        config.get("seed")  # ml_collections defers an unreadable file's OSError to first use
    except OSError as e:
        raise UserError(f"cannot load --{name}={filename}: {_first_line(e)}") from None
    config_check.check_config(config, origin=f"--{name}={filename}")
    return config


def log_to_file(workdir, filename):
    """Copy the run's log lines into the workdir (appending across resumes)."""
    try:
        os.makedirs(workdir, exist_ok=True)
        handler = logging.FileHandler(os.path.join(workdir, filename))
    except OSError as e:
        raise UserError(f"workdir {workdir} is not writable ({e.strerror}); "
                        "choose another --workdir") from None
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    logging.getLogger("dcgan").addHandler(handler)
