"""A small folder of your own RGB pictures (a few dozen to a few thousand) at 64x64.

`folder128.py` for 64 px and small folders: nothing held out (data.holdout=N, well below the
folder's count, logs D's output on N pictures kept out of training), batches of 16, and
adaptive augmentation (ADA), without which D memorises a few hundred pictures in minutes.
Point data.source at your folder: --config.data.source=folder:~/Pictures/cats
"""

from configs import folder128


def get_config():
    config = folder128.get_config()
    config.data.source = "folder:/usr/share/icons/oxygen/base/64x64"
    config.data.image_size = 64
    config.data.holdout = 0
    config.training.batch_size = 16
    config.training.num_steps = 5_000
    config.training.sample_every_steps = 250
    return config
