"""A small folder of your own RGB pictures (a few dozen to a few thousand) at 64x64.

`folder128.py` made for 64 px and small folders: batches of 16, adaptive augmentation (ADA,
target 0.8 below), without which D memorises a few hundred pictures in minutes, and nothing
held out, so a folder of any size trains (--config.data.holdout=N, well below the folder's
count, keeps N pictures out of training and logs D's output on them beside D(x)).
Its other settings were measured at 32 px (configs/folder32.py says by what).
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
    # Measured on 32 px icons (README, "When augmentation pays"), two seeds: the target 0.6
    # raised p where augmentation only cost (1000 pictures, 7-8% worse than none); at 0.8 the
    # 1000 pictures were on a par with none on average and 200 pictures gained more.
    config.training.ada_target = 0.8
    return config
