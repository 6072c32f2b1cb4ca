"""`folder:DIR`: every png/jpg/jpeg/bmp/gif/webp file below DIR, links followed, any mode
(unreadable files skipped with a warning: see dcgan/data/image_folder.py); when every image lies
in a sub-folder, each immediate sub-folder is a class.

The folder is listed once, when first asked: the checks before a run, the record of its files
and the decoding all use that one listing.
"""

import os

import numpy as np

from dcgan.data import image_folder, sources
from dcgan.errors import UserError


class Folder(sources.OnDisk):
    """A folder has no held-out part: its "test" split is the training images again."""

    kind = "folder"
    form = "folder:DIR"
    is_folder = True
    no_labels_hint = "put each class's images in a sub-folder of its own"

    def listing(self):
        """The folder's image_folder.Listing, made on the first call.

        Raises:
            UserError: the folder is not there.
        """
        if not hasattr(self, "_listing"):
            self._listing = image_folder.scan(self.path, self.text)
        return self._listing

    def has_test_split(self):
        return False

    def has_labels(self):
        paths = self.listing().paths
        return bool(paths) and not image_folder.class_folders(self.path, paths)[2]

    def count(self):
        return len(self.listing().paths)

    def identity(self):
        return image_folder.identity(self.path, self.listing().paths)

    def check_before_start(self, run_root=None, conditional=False, cache_dir="",
                           image_size=None, channels=None):
        listing = self.listing()
        if cache_dir and not image_folder.cache_is_current(
                cache_dir, self.path, listing.paths, image_size, channels):
            problem = image_folder.cache_dir_problem(cache_dir)  # it will be written
            if problem:
                raise UserError(problem)
        if run_root:
            self._check_run_folder_outside(run_root, listing.folders)
        if not listing.paths:
            raise UserError(f"data.source {self.text}: no image files "
                            f"({', '.join(image_folder.IMAGE_EXTENSIONS)}) in {self.path} or "
                            "below")
        if conditional:
            self._check_class_folders(listing)

    def _check_class_folders(self, listing):
        source, directory, paths = self.text, self.path, listing.paths
        names, _, strays = image_folder.class_folders(directory, paths)
        if len(strays) == len(paths):
            raise UserError(f"model.conditional=True needs labels: data.source {source} has no "
                            "labels (no class sub-folders); put each class's images in a "
                            "sub-folder of its own (or set model.conditional=False)")
        if strays:
            raise UserError(f"model.conditional=True needs labels: data.source {source}: "
                            f"{len(strays)} image file(s) lie directly in {directory}, outside "
                            f"the class sub-folders ({image_folder.named(strays)}); move them "
                            "into a class folder or out of the tree")
        unused = image_folder.unused_class_folders(directory, listing)
        if unused:
            # Training without them would leave classes out of classes.json unseen.
            them = "it" if len(unused) == 1 else "them"
            raise UserError(f"data.source {source}: every sub-folder is a class of a conditional "
                            f"run, but {'; '.join(unused)}; or move {them} out of {directory}")
        if len(names) < 2:
            raise UserError(f"data.source {source}: all images are in one class folder "
                            f"({names[0]}); a conditional run needs two or more (or set "
                            "model.conditional=False)")

    def _check_run_folder_outside(self, root, folders):
        """A run folder inside the picture folder, or inside a folder linked from it, would
        add its own sample grids to the data."""
        run = os.path.realpath(root)
        for folder in folders:
            if image_folder.inside(run, folder):
                through = "" if folder == os.path.realpath(self.path) else \
                    f" (through {folder})"
                raise UserError(f"--workdir={root} is inside the picture folder {self.path}"
                                f"{through}: the run's sample grids would become training "
                                "data; put the run folder elsewhere")

    def read(self, split, image_size, channels, seed, cache_dir):
        del split, seed  # a folder has no held-out part: "test" is the training set again
        from dcgan.data import fitting  # TensorFlow: only when the pictures are decoded

        source, directory = self.text, self.path

        def decode_and_fit(paths):
            arrays, skipped = image_folder.decode_all(paths, source, image_size)
            images = np.empty((len(arrays), image_size, image_size, channels), np.uint8)
            for positions, stacked in image_folder.group_by_shape(arrays).values():
                images[positions] = fitting.fit_array(stacked, image_size, channels)
            return images, skipped

        paths = image_folder.report_listing(self.listing(), directory, source)
        if cache_dir:
            images, skipped = image_folder.cached_images(
                directory, paths, source, image_size, channels, os.path.expanduser(cache_dir),
                decode_and_fit)
        else:
            images, skipped = decode_and_fit(paths)
        names, classes, strays = image_folder.class_folders(directory, paths)
        if len(strays) == len(paths):
            return images, None, None  # no sub-folders at all: a folder without classes

        def labels():  # only a conditional run asks; an unconditional one takes any tree
            if strays:
                raise sources.NoLabels(
                    f"data.source {source}: {len(strays)} image file(s) lie directly in "
                    f"{directory}, outside the class sub-folders ({image_folder.named(strays)}); "
                    "move them into a class folder or out of the tree")
            unreadable = set(skipped)
            kept = [k for path, k in zip(paths, classes, strict=True) if path not in unreadable]
            empty = sorted(set(names) - {names[k] for k in kept})
            if empty:
                raise UserError(f"data.source {source}: the class folder(s) {', '.join(empty)} "
                                "hold no readable image; fix their files or remove the "
                                "folder(s)")
            return np.array(kept)

        return images, labels, names
