"""A small folder of your own RGB pictures at 32x32: the quick look, a sixth of 64 px's work.

`folder64.py` at 32 px: batches of 16 and the adaptive augmentation (ADA). Measured on Papirus
icons at 32 px, 10 minutes of a 2-core CPU an arm (README, "When augmentation pays"): with 200
pictures its adaptive augmentation (target 0.8) gave a 31-38% lower Frechet distance than none,
half the held-out gap and a higher recall; with 1000 it was on a par with none on average,
and over an hour (seed 0) it held a distance of 3.4 where the run without it collapsed (38).
The other settings (folder128's) were each measured against it on 1000 icons, 10 minutes an
arm (README, "folder32's other settings"): batches of 32 were 7% worse, EMA 0.99 12% worse,
Fashion-MNIST's widths (56 / 96) and minibatch standard deviation no better, its rates
(5e-4 / 1e-3) within one run's noise. So they stay: batches of 16, widths 64 / 64, rates 2e-4,
EMA 0.999, no minibatch stddev. Without cutout, 1000 pictures were 5-7% better in 10
minutes (two seeds) and 18% better over an hour (one seed), 200 pictures the same in distance
but with a held-out gap of 0.33 against cutout's 0.23 (README, "Cutout at 200 pictures and
over an hour"); cutout stays until a second seed of the hour says otherwise. With 5000
pictures the adaptive augmentation was 26% and 56% worse than none in 10 minutes: the sign rule
raised p to 0.85 though D did not memorise (README, "5000 pictures"); such folders train
better without it (--config.training.augment= --config.training.ada_target=0).
Point data.source at your folder: --config.data.source=folder:~/Pictures/cats
"""

from configs import folder64


def get_config():
    config = folder64.get_config()
    config.data.source = "folder:/usr/share/icons/oxygen/base/32x32"
    config.data.image_size = 32
    return config
