"""A folder of RGB pictures at 128x128: a small data set, so D sees augmented images (ADA).

A starting point, not measured at 128 px: a step costs about four times 64 px's, so the 10-minute
and 1-hour budgets this project measures by are a few hundred to a few thousand steps on a
CPU. The settings measured on pictures are those of folder32.py and folder64.py
(docs/measurements/augmentation_icons32.md); folder64.py, which starts from this file, is the
one to begin with.

Point data.source at your own folder (any PNG mode, JPEG, BMP, GIF, WebP; see
dcgan/data/image_folder.py). The default is the Oxygen icon theme's 128 px icons, about 830 RGBA
pictures composited on white, which many Linux machines have.
"""

from configs import default


def get_config():
    config = default.get_config()
    config.data.source = "folder:/usr/share/icons/oxygen/base/128x128"
    config.data.image_size = 128
    config.data.channels = 3
    # Kept out of training: D's output on them against as many trained pictures, the held-out
    # gap, shows D memorising, and steers the augmentation below. 20 measure the gap to about
    # +-0.1 in one log; a folder too small to hold them out and still fill a batch is refused
    # before anything starts, with the numbers to lower.
    config.data.holdout = 20
    config.model.kernel_size = 4
    config.model.init = "dcgan"
    config.model.dropout = 0.0
    config.model.ema_decay = 0.999
    config.optim.g_learning_rate = 2e-4
    config.optim.d_learning_rate = 2e-4
    config.optim.beta1 = 0.5
    config.training.batch_size = 32
    config.training.num_steps = 20_000
    config.training.augment = "translation,color,cutout"
    # p steered by the held-out gap, not by the sign of D(x): measured on 32 px icons
    # (docs/measurements/augmentation_icons32.md), the sign was as high at 5000 pictures,
    # which D did not memorise, as at 200, which it did, and raised p in both; the gap stayed
    # below 0.15 at 5000 and went above it within a minute at 200.
    config.training.ada_gap_target = 0.15
    # A few hundred pictures are seen thousands of times: p must be able to rise in minutes.
    config.training.ada_kimg = 50.0
    return config
