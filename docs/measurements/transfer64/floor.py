"""The Frechet distance a perfect generator would score against a run's 100 held-out Breeze
icons: K of the other 1,223 real Breeze icons (drawn at random; the run's training icons among
them) against them, for several K, with the same random-network features as
dcgan-evaluate --features=random.

    python floor.py OUT.json RUN_SEED0 RUN_SEED1
"""
import json
import sys

import numpy as np

from dcgan.quality import features
from dcgan.run import workdir

out = {}
out_path, runs = sys.argv[1], sys.argv[2:]  # OUT.json, then one run of each seed
for run in runs:
    config = workdir.read_config(run)
    (kept, _), (held, _), kind = features.split_images(config.data, config.seed)
    seed = config.seed
    extractor = features.load_extractor("random", 64, 3)
    scorer = features.Scorer(extractor, held, 2000, config.model.noise_dim, seed)
    rows = {}
    for k in (100, 200, 400, 800, len(kept)):
        for rep in range(3 if k < 800 else 1):
            pick = np.random.default_rng(1000 * seed + rep).permutation(len(kept))[:k]
            m = scorer.score_images(kept[pick], f"{k} real")
            rows.setdefault(k, []).append(m["fid"])
        print(seed, k, rows[k], flush=True)
    out[seed] = {"held_out": int(len(held)), "kind": kind, "fid_by_count": rows}
json.dump(out, open(out_path, "w"), indent=1)
