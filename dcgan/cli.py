"""What every command-line entry shares: one-line errors, quiet TensorFlow, file logging."""

import logging
import os
import sys

from absl import app, flags

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
    except flags.Error as e:
        print(f"error: {_first_line(e)}; see --help", file=sys.stderr)
        sys.exit(2)
    except (AttributeError, KeyError) as e:
        # ml_collections reports an override of a field the config lacks this way.
        field = _first_line(e).strip("\"'")
        print(f"error: unknown config field {field!r} in a --config.* override; "
              "--dry_run lists the fields", file=sys.stderr)
        sys.exit(2)
    except (ValueError, TypeError, OSError, SyntaxError, ImportError) as e:
        print(f"error: {_first_line(e)}; check --config and its overrides", file=sys.stderr)
        sys.exit(2)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s",
                        stream=sys.stderr, force=True)
    # TensorFlow's Python INFO lines (one per collective op in a cluster) drown the run's own.
    logging.getLogger("tensorflow").setLevel(logging.WARNING)
    sys.exit(_exit_on_user_error(main)(argv))


def _first_line(error):
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


def require_config(flag_values, name):
    config = flag_values[name].value
    if config is None:
        raise UserError(f"--{name} is required, e.g. --{name}=configs/mnist.py")
    filename = flag_values[name].config_filename
    if not os.path.isfile(filename.split(":")[0]):
        raise UserError(f"config file {filename} not found; the presets are in configs/")
    try:
        config.get("seed")  # a config file that failed to load raises its error on first use
    except Exception as e:  # noqa: BLE001 - any load failure is the user's file
        raise UserError(f"cannot load --{name}={filename}: "
                        f"{_first_line(e)}") from None
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
