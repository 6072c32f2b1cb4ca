"""What every command-line entry shares: --help, one-line errors, quiet TensorFlow, file logging.

TensorFlow talks a lot on stderr that is not about the run, and users read it as trouble:

- at import, its C++ libraries log (twice, once per library) that oneDNN is on and that no CUDA
  driver was found, with a banner saying the logging is not set up yet. These lines come before
  TensorFlow reads TF_CPP_MIN_LOG_LEVEL, so only silencing stderr during the import hides them.
- `E... cuda_platform.cc] failed call to cuInit` on every machine without a usable GPU.
- `E... meta_optimizer.cc] remapper failed: INVALID_ARGUMENT: Mutation::Apply error` while the
  training step is traced: the oneDNN graph rewriter tries to fuse a discriminator's conv, bias
  and LeakyReLU, finds the gradient still needs the unfused bias output, and leaves that graph as
  written. Nothing is computed differently (turning the rewriter off trains at the same speed),
  so the line reports an optimisation skipped, not an error of the run.
- the checkpoint writer's `Sharding callback duration` INFO line at every save.

So, unless --verbose is given, the import is silenced, TF_CPP_MIN_LOG_LEVEL defaults to 3 (C++
fatal errors only; a failed op still raises its Python exception with the whole message), and
TensorFlow's Python loggers keep warnings and errors only.
"""

import contextlib
import importlib.abc
import importlib.util
import logging
import os
import sys
import tempfile
import traceback

from absl import app, flags

from dcgan import config_check
from dcgan.errors import UserError, first_line, unwritable_workdir

__all__ = ["UserError", "run_app", "require_config", "check_config_overrides", "log_to_file"]

VERBOSE_FLAG = "verbose"


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


def run_app(main, takes_arguments=False):
    """Run an absl-flags main; bad flags, stray arguments and UserError become one line on
    stderr and exit 2. With `takes_arguments`, main reads the arguments left after the flags
    (those after `--`) itself."""
    app.define_help_flags()
    if VERBOSE_FLAG not in flags.FLAGS:
        flags.DEFINE_bool(VERBOSE_FLAG, False, "Show TensorFlow's own log lines (hidden by "
                          "default: start-up notices, no-GPU and graph-optimizer messages).")
    _list_own_flags_in_help(main)
    repeated = _repeated_config_file(sys.argv)
    if repeated:
        print(f"error: {repeated}", file=sys.stderr)
        sys.exit(2)
    try:
        argv = flags.FLAGS(sys.argv)
    except SystemExit:
        # Only absl's --help, --helpfull, ... exit while parsing, with status 1; but help that
        # was asked for is not a failure.
        sys.exit(0)
    except Exception as e:  # noqa: BLE001 - a config file can raise anything while it loads
        problem = _flag_problem(e)
        if problem is None:
            raise
        print(f"error: {problem}", file=sys.stderr)
        sys.exit(2)
    if len(argv) > 1 and not takes_arguments:
        print(f"error: unexpected arguments {' '.join(argv[1:])}; flags look like --name=value",
              file=sys.stderr)
        sys.exit(2)
    _expand_home_in_paths()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s",
                        stream=sys.stderr, force=True)
    if not flags.FLAGS[VERBOSE_FLAG].value:
        _quiet_tensorflow()
    sys.exit(_exit_on_user_error(main)(argv))


def _is_config_file_parser(parser):
    """Whether `parser` is ml_collections' parser of a --config=FILE flag (by name: the class
    is private to ml_collections)."""
    return type(parser).__name__ == "ConfigFileFlagParser"


def _repeated_config_file(argv, flag_values=flags.FLAGS):
    """One line when a config file flag (--config=FILE) is given more than once, else None:
    ml_collections would keep the last file without a word, or fail over its overrides."""
    given = argv[1:argv.index("--")] if "--" in argv else argv[1:]
    for name in flag_values:
        if not _is_config_file_parser(flag_values[name].parser):
            continue
        files = [arg.partition("=")[2] for arg in given if arg.startswith(f"--{name}=")]
        if len(files) > 1:
            return (f"--{name} is given {len(files)} times ({', '.join(files)}); give one "
                    f"preset and change its fields with --{name}.FIELD=VALUE")
    return None


# Flags that name files or folders. A shell leaves `~` alone after `=`, so `--workdir=~/runs`
# arrives as typed; expanded here once, every module sees the same folder.
PATH_FLAGS = ("workdir", "output", "export", "features")


def _expand_home_in_paths():
    for name in PATH_FLAGS:
        if name in flags.FLAGS and isinstance(flags.FLAGS[name].value, str):
            flags.FLAGS[name].value = os.path.expanduser(flags.FLAGS[name].value)


def _flag_problem(error, flag_values=flags.FLAGS):
    """One line saying what is wrong with the command line (sys.argv, parsed into
    `flag_values`), or None for an unexpected error."""
    problem = _config_file_problem(error)
    if problem:
        return problem
    misspelt = _unknown_config_override(flag_values)
    if misspelt and isinstance(error, (flags.Error, AttributeError, KeyError)):
        return misspelt
    if isinstance(error, flags.Error):
        return f"{first_line(error)}; see --help"
    if isinstance(error, (AttributeError, KeyError)):
        # ml_collections reports an override of a field the config lacks this way.
        while isinstance(error, (AttributeError, KeyError)) and error.args:
            error = error.args[0]  # ConfigDict nests the KeyError inside an AttributeError
        field = first_line(error).strip("\"'")
        return (f"unknown config field {field!r} in a --config.* override; "
                "--dry_run lists the fields")
    if isinstance(error, (ValueError, TypeError, OSError)):
        return f"{first_line(error)}; check --config and its overrides"
    return None


def _unknown_config_override(flag_values):
    """'unknown config field ...; did you mean ...' for the first --config.FIELD=VALUE of the
    command line that names no field of its loaded config, else None."""
    files = dict(arg[2:].partition("=")[::2] for arg in sys.argv[1:] if arg.startswith("--"))
    for arg in sys.argv[1:]:
        name = arg.lstrip("-").partition("=")[0]
        flag, dot, field = name.partition(".")
        parser = flag_values[flag].parser if flag in flag_values else None
        if not dot or not arg.startswith("--") or not files.get(flag) or \
                not _is_config_file_parser(parser):
            continue
        try:  # the overrides failed, so the flag holds no config: loaded again, without them
            config = parser.parse(files[flag])
        except Exception:  # noqa: BLE001 - the file's own problem is reported as it is
            return None
        close = config_check.unknown_field(config, field) if hasattr(config, "items") else None
        if close is not None:
            guess = f"did you mean {' or '.join(close)}? " if close else ""
            return (f"unknown config field {field!r} in {arg}; {guess}--dry_run lists the "
                    "fields")
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
               if _is_config_file_parser(frame.f_locals.get("self"))]
    if not loading:
        return None
    frame = frames[loading[-1]]
    where = f"--{frame.f_locals['self'].name}={frame.f_locals.get('path')}"
    if isinstance(error, AttributeError) and loading[-1] == len(frames) - 1:
        return f"cannot load {where}: it defines no get_config(); see configs/default.py"
    return f"cannot load {where}: {type(error).__name__}: {first_line(error)}"


def _list_own_flags_in_help(main):
    """Makes --help of a console script (dcgan-sample) show what `python -m dcgan.sample` shows.

    absl's --help prints the docstring of `__main__` and the flags of the module named by
    sys.argv[0]. Under `python -m` both are the command's module; under a console script
    `__main__` is the installed wrapper (no docstring) and sys.argv[0] its path, which defined
    no flag, so only a bare USAGE line was left.
    """
    module = sys.modules[main.__module__]
    entry = sys.modules["__main__"]
    if module is not entry and not entry.__doc__:
        entry.__doc__ = module.__doc__
    own = flags.FLAGS.get_key_flags_for_module(module.__name__) if module is not entry else []
    for flag in [*own, flags.FLAGS[VERBOSE_FLAG]]:
        flags.FLAGS.register_key_flag_for_module(sys.argv[0], flag)


def _quiet_tensorflow():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    for name in ("tensorflow", "absl"):  # absl: the logger TensorFlow's checkpoint code uses
        logging.getLogger(name).setLevel(logging.WARNING)
    if "tensorflow" not in sys.modules:
        sys.meta_path.insert(0, _SilentTensorFlowImport())


@contextlib.contextmanager
def _stderr_held_back():
    """Sends what is written to file descriptor 2 (C++ included) aside; shown only on failure."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            yield
        except Exception:  # a broken install: what TensorFlow said is the diagnosis
            os.dup2(saved, 2)
            held.seek(0)
            os.write(2, held.read())
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


class _SilentTensorFlowImport(importlib.abc.MetaPathFinder):
    """Imports `tensorflow`, wherever it is first imported, with stderr held back.

    TensorFlow is imported late and from many modules, after the cheap checks of each command;
    this catches the first import without every module having to wrap it.
    """

    def find_spec(self, name, path=None, target=None):
        if name != "tensorflow":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.loader is not None:
            exec_module = spec.loader.exec_module

            def exec_quietly(module):
                with _stderr_held_back():
                    exec_module(module)

            spec.loader.exec_module = exec_quietly
        return spec


def require_config(flag_values, name, source_rule=None):
    """The config of the config-file flag `name`, loaded and checked (config_check; its
    data.source by `source_rule`, the data layer's dcgan.data.sources.rule())."""
    config = flag_values[name].value
    if config is None:
        raise UserError(f"--{name} is required, e.g. --{name}=configs/mnist.py")
    filename = flag_values[name].config_filename
    if not os.path.isfile(filename.split(":")[0]):
        raise UserError(f"config file {filename} not found; the presets are in configs/")
    try:
        config.get("seed")  # ml_collections defers an unreadable file's OSError to first use
    except OSError as e:
        raise UserError(f"cannot load --{name}={filename}: {first_line(e)}") from None
    config_check.check_config(config, origin=f"--{name}={filename}", source_rule=source_rule)
    return config


def check_config_overrides(config_file, overrides, source_rule=None):
    """Load `config_file` with `overrides` (--config.FIELD=VALUE) and check the config as
    dcgan.main would, without running it: for a command that hands them on to dcgan.main later
    and should refuse them before its own slow work.

    Raises:
        UserError: one line, the same problem dcgan.main would name.
    """
    from ml_collections import config_flags

    argv = ["check", f"--config={config_file}", *overrides]
    values, held = flags.FlagValues(), sys.argv
    sys.argv = argv  # ml_collections defines a flag for each override it finds in sys.argv
    try:
        config_flags.DEFINE_config_file("config", config_file, flag_values=values,
                                        lock_config=True)
        values(argv)
    except Exception as e:  # noqa: BLE001 - a config file can raise anything while it loads
        problem = _flag_problem(e, values)
        if problem is None:
            raise
        raise UserError(problem) from None
    finally:
        sys.argv = held
    return require_config(values, "config", source_rule)


def log_to_file(path):
    """Copy the run's log lines into `path` in the workdir (appending across resumes)."""
    workdir = os.path.dirname(path) or "."
    try:
        os.makedirs(workdir, exist_ok=True)
        handler = logging.FileHandler(path)
    except OSError as e:
        raise unwritable_workdir(workdir, e) from None
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    logging.getLogger("dcgan").addHandler(handler)
