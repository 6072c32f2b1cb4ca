"""A small folder of your own RGB pictures (a few dozen to a few thousand) at 64x64.

`folder128.py` made for 64 px and small folders: batches of 16, and folder128's augmentation,
its probability p steered by D on 20 pictures held out of training. p rises while D scores the
trained pictures more than 0.15 above the held-out ones, so it stays near 0 in a folder D does
not memorise and climbs to 1 in one it does. A folder needs 36 pictures or more (20 held out,
a batch of 16 left; --config.data.holdout=N holds N out). The settings were measured at 32 px
(configs/folder32.py says by what); at 64 px, on 490 Oxygen icons for 10 minutes, the distance
was 16% and 37% below none's on two seeds (docs/measurements/augmentation_oxygen64.md).
Point data.source at your folder: --config.data.source=folder:~/Pictures/cats
"""

from configs import folder128


def get_config():
    config = folder128.get_config()
    config.data.source = "folder:/usr/share/icons/oxygen/base/64x64"
    config.data.image_size = 64
    config.training.batch_size = 16
    config.training.num_steps = 5_000
    config.training.sample_every_steps = 250
    return config
