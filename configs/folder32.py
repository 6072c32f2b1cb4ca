"""A small folder of your own RGB pictures at 32x32: the quick look, a sixth of 64 px's work.

`folder64.py` at 32 px: batches of 16, 20 pictures held out, and the augmentation with p
steered by the held-out gap (target 0.15). Measured on Papirus icons at 32 px, 10 minutes of a
2-core CPU an arm, two seeds, 100 held out (docs/measurements/augmentation_icons32.md): with 200
pictures p climbed to 1 and the Frechet distance was 91-98% lower than none's, with under half
its held-out gap and a recall of 0.66-0.70 against 0; with 1000, p settled near 0.5 and the
distance was 1% and 10% above none's; with 5000, p stayed at 0, where steps skip the ops, and
the run equalled none's. Over an hour at 1000 it ended at 3.1 and 2.7 (two seeds) where the
runs without augmentation collapsed (38 and 25). The sign rule it replaced (target 0.8) did
as well at 200 but was 26% and 56% worse than none at 5000, and 3.4 over the hour.
The other settings (folder128's) were each measured against it on 1000 icons, 10 minutes an
arm (docs/measurements/folder32_settings.md): batches of 32 were 7% worse, EMA 0.99 12% worse,
Fashion-MNIST's widths (56 / 96) and minibatch standard deviation no better, its rates
(5e-4 / 1e-3) within one run's noise. So they stay: batches of 16, widths 64 / 64, rates 2e-4,
EMA 0.999, no minibatch stddev. Without cutout, 1000 pictures were 5-7% better in 10
minutes (two seeds) and 18% better over an hour (one seed), 200 pictures the same in distance
but with a held-out gap of 0.33 against cutout's 0.23 (docs/measurements/folder32_settings.md);
cutout stays until a second seed of the hour says otherwise.
Without augmentation: --config.training.augment= --config.training.ada_gap_target=0.
Point data.source at your folder: --config.data.source=folder:~/Pictures/cats
"""

from configs import folder64


def get_config():
    config = folder64.get_config()
    config.data.source = "folder:/usr/share/icons/oxygen/base/32x32"
    config.data.image_size = 32
    return config
