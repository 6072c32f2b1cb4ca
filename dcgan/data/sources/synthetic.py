"""`synthetic:digits[:N]`: font digits made on the spot (dcgan/data/digits.py); needs no files.
synthetic:digits:N makes N training images instead of 10,000."""

from dcgan.data import sources

SYNTHETIC_TRAIN_SIZE = 10_000
SYNTHETIC_TEST_SIZE = 2_000


class Synthetic(sources.Source):
    """Equal seeds give equal images; the test split comes from a separate seed stream."""

    kind = "synthetic"
    form = "synthetic:digits"

    @classmethod
    def where_problem(cls, where):
        kind, _, count = where.partition(":")
        if kind != "digits" or (count and not (count.isdigit() and int(count) > 0)):
            return "use synthetic:digits or synthetic:digits:N"
        return None

    def has_labels(self):
        return True

    def read(self, split, image_size, channels, seed, cache_dir):
        del image_size, channels, cache_dir
        from dcgan.data import digits  # TensorFlow draws them: only when they are made

        count = self.where.partition(":")[2]
        if split == "train":
            num_images = int(count) if count else SYNTHETIC_TRAIN_SIZE
        else:
            num_images = SYNTHETIC_TEST_SIZE
        # Distinct seed streams keep the test images apart from the training images.
        images, labels = digits.synthetic_digits(num_images,
                                                 (seed % 2**64, 0 if split == "train" else 1))
        return images, labels, None
