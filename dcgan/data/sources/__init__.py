"""`data.source` parsed once: a Source value of one registered kind, which answers what the
rest of the code asks of the data.

A source is written KIND:WHERE (`tfds:NAME[:SPLIT]`, `idx:DIR`, `folder:DIR`, `npz:FILE`,
`synthetic:digits`). Each kind is one module of this package, a `Source` subclass registered
here by its kind; a new kind is one more module that calls `register`. A Source knows,
without loading any image and without TensorFlow:

- what it is: `text` as typed, `resolved()` (a path made absolute, so the run can be read
  from another directory), `same_as` another source (one folder spelt two ways);
- what it holds: `has_test_split()`, `has_labels()` (False, True or None: only loading
  tells), `count()` of images when a listing tells it;
- what a run records of it: `identity()`, the files and their fingerprint (a folder's);
- `check_before_start(...)`: what its listing refuses before a run starts.

`read(...)` loads a split; input_pipeline fits what it returns to the run's size and channels.
"""

import os

from dcgan.errors import UserError

KINDS = {}  # kind -> Source subclass, in the order registered


class NoLabels(UserError):
    """Labels were asked of a source that has none."""


def register(kind_class):
    """Adds a Source subclass to the kinds `parse` knows; returns it (usable as a decorator)."""
    KINDS[kind_class.kind] = kind_class
    return kind_class


def forms():
    """The forms of every kind, as a config's rule lists them."""
    words = [kind_class.form for kind_class in KINDS.values()]
    return f"{', '.join(words[:-1])} or {words[-1]}"


def problem(text):
    """Why `text` is no data.source of a registered kind, or None."""
    if not isinstance(text, str):
        return f"use a string, one of {forms()}"
    kind, _, where = text.partition(":")
    kind_class = KINDS.get(kind)
    if kind_class is None or not where:
        return f"use {forms()}"
    return kind_class.where_problem(where)


def rule():
    """config_check's (test, allowed) pair for data.source: the registered kinds' forms."""
    return (lambda value: problem(value) is None), forms()


def parse(text):
    """The Source `text` names.

    Raises:
        UserError: one line naming the value and the forms allowed.
    """
    if isinstance(text, Source):
        return text
    why = problem(text)
    if why:
        raise UserError(f"data.source={text!r} is not valid; {why}")
    kind, _, where = text.partition(":")
    return KINDS[kind](text, where)


class Source:
    """A data source of one kind. Subclasses set `kind` and `form` and implement `read`."""

    kind = ""
    form = ""
    # What a run that needs labels is told to do about a source that has none.
    no_labels_hint = "use a tfds, idx, npz (y_train or labels) or folder-of-classes source"

    def __init__(self, text, where):
        self.text, self.where = text, where

    def __str__(self):
        return self.text

    def __repr__(self):
        return f"{type(self).__name__}({self.text!r})"

    @classmethod
    def where_problem(cls, where):
        """Why `where` (the part after KIND:) is not valid for this kind, or None."""
        del where
        return None

    def resolved(self):
        """The source as config.json keeps it: paths absolute, so other directories read it."""
        return self.text

    def same_as(self, other):
        """Whether `other` (a Source or a data.source string) names the same data."""
        return self.resolved() == parse(other).resolved()

    def place(self):
        """The file or folder the source reads, or None for a source not on disk."""
        return None

    def moved_to(self, where):
        """The same kind of source at another place (evaluate --data_path).

        Raises:
            UserError: this kind has no place on disk.
        """
        raise UserError(f"--data_path is for data on disk (folder:, idx:, npz:); the run "
                        f"trained on {self.text}; leave --data_path out")

    def has_test_split(self):
        """Whether the source keeps test images apart from its training images."""
        return True

    def has_labels(self):
        """True or False when known without loading; None when only loading tells."""
        return None

    def count(self):
        """The number of images, when known without decoding; None otherwise."""
        return None

    def identity(self):
        """What a run records of the data it trains on (RunDir.data_files), or None."""
        return None

    def check_before_start(self, run_root=None, conditional=False, cache_dir="",
                           image_size=None, channels=None):
        """Raise what the source's place or listing refuses, before TensorFlow loads.

        Args:
            run_root: the run folder, or None.
            conditional: whether the run needs labels.
            cache_dir: data.cache_dir.
            image_size, channels: what the pictures are fitted to (a cache's name holds them).
        """
        del run_root, conditional, cache_dir, image_size, channels

    def read(self, split, image_size, channels, seed, cache_dir):
        """Loads a split: (uint8 (N, H, W, C) images of any size, labels or a function
        returning them, or None, class names or None). input_pipeline fits the images.

        Args:
            split: "train" or "test"; a source without a test split returns its training
                images for "test".
            image_size, channels: what the run trains on (a source may decode reduced).
            seed: the run's seed (sources made on the spot use it).
            cache_dir: data.cache_dir.
        """
        raise NotImplementedError


class OnDisk(Source):
    """A source whose WHERE is a path; `~` and relative paths are resolved."""

    is_folder = False  # a folder, or else a file

    def check_before_start(self, run_root=None, conditional=False, cache_dir="",
                           image_size=None, channels=None):
        del run_root, conditional, cache_dir, image_size, channels
        there = os.path.isdir(self.path) if self.is_folder else os.path.isfile(self.path)
        if not there:
            what = "directory" if self.is_folder else "file"
            raise UserError(f"data.source {self.text}: no such {what}")

    @property
    def path(self):
        return os.path.expanduser(self.where)

    def place(self):
        return self.path

    def resolved(self):
        return f"{self.kind}:{os.path.realpath(self.path)}"

    def moved_to(self, where):
        return type(self)(f"{self.kind}:{where}", where)


def _register_built_in_kinds():
    # Imported here, after Source exists; registered in the order messages list them.
    from dcgan.data.sources import folder, idx, npz, synthetic, tfds

    for kind_class in (tfds.Tfds, idx.Idx, folder.Folder, npz.Npz, synthetic.Synthetic):
        register(kind_class)


_register_built_in_kinds()
