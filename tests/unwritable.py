"""Folders that cannot be written: read-only ones, and ones on a disk that fills up.

Permissions do not stop root, so as root a folder is bind-mounted read-only onto itself
(or, failing that, made immutable with chattr); a test is skipped only when neither works.
A full disk is a small tmpfs mounted on the folder, which takes root.
"""

import contextlib
import os
import stat
import subprocess
import uuid

import pytest


@contextlib.contextmanager
def read_only(folder):
    """`folder` and everything below it cannot be written while the block runs."""
    folder = os.path.realpath(folder)
    if os.geteuid() != 0:
        with _without_write_permission(folder):
            yield
        return
    if _run("mount", "--bind", folder, folder):
        try:
            if _run("mount", "-o", "remount,bind,ro", folder):
                _check_unwritable(folder)
                yield
                return
        finally:
            _run("umount", folder)
    if _run("chattr", "-R", "+i", folder):
        try:
            _check_unwritable(folder)
            yield
        finally:
            _run("chattr", "-R", "-i", folder)
        return
    pytest.skip("cannot make a folder unwritable here (no read-only mount, no chattr)")


@contextlib.contextmanager
def small_disk(folder, kib):
    """`folder` is a file system of `kib` KiB while the block runs: writing more fails with
    "No space left on device"."""
    os.makedirs(folder, exist_ok=True)
    if os.geteuid() != 0 or not _run("mount", "-t", "tmpfs", "-o", f"size={kib}k", "tmpfs",
                                     folder):
        pytest.skip("cannot mount a small file system to fill here (needs root and tmpfs)")
    try:
        yield
    finally:
        if not _run("umount", folder):
            _run("umount", "-l", folder)


@contextlib.contextmanager
def _without_write_permission(folder):
    folders = [dirpath for dirpath, _, _ in os.walk(folder)]
    modes = {path: stat.S_IMODE(os.stat(path).st_mode) for path in folders}
    for path in folders:
        os.chmod(path, modes[path] & ~0o222)
    try:
        _check_unwritable(folder)
        yield
    finally:
        for path in folders:
            os.chmod(path, modes[path])


def _check_unwritable(folder):
    probe = os.path.join(folder, f".probe-{uuid.uuid4().hex}")
    try:
        with open(probe, "w"):
            pass
    except OSError:
        return
    os.remove(probe)
    pytest.skip(f"{folder} stays writable here")


def _run(*command):
    return subprocess.run(command, capture_output=True).returncode == 0
