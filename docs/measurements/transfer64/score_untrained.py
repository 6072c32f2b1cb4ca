"""Scores 10-minute arms against every Breeze icon their run never trained on.

dcgan-evaluate compares 2,000 samples with the run's 100 held-out icons; at 100 the Frechet
distance is biased upwards so much that 2,000 perfect samples would score about 2.7
(floor.json). Breeze has 1,323 icons and a run trains on 200 (or 50, 1,000): here the reference
is all the others (1,123 for 200), same random-network features, same 2,000 samples of the EMA
generator; and the floor is one random half of the reference against the other half.

    python score_untrained.py OUT.json RUN [RUN ...]

(run from the project folder, with its .venv's python).
"""
import json
import os
import sys

import numpy as np

from dcgan.data import input_pipeline
from dcgan.quality import features, metrics
from dcgan.run import checkpoints, workdir

out_path, runs = sys.argv[1], sys.argv[2:]
results = json.load(open(out_path)) if os.path.exists(out_path) else {"runs": {}, "floors": {}}
extractor = features.load_extractor("random", 64, 3)
cache = {}
for run in runs:
    config = workdir.read_config(run)
    data, seed = config.data, config.seed
    key = f"seed{seed}_n{data.max_images}"
    if key not in cache:
        images = input_pipeline.load_images(data.source, 64, 3)
        # The run's own split (input_pipeline.select_images), with the positions as labels.
        _, trained, _, _ = input_pipeline.select_images(
            images, seed, data.max_images, data.holdout, labels=np.arange(len(images)))
        untrained = np.delete(images, trained, axis=0)
        scorer = features.Scorer(extractor, untrained, 2000, config.model.noise_dim, seed)
        cache[key] = scorer
        half = np.random.default_rng(seed).permutation(len(untrained))
        a, b = untrained[half[: len(half) // 2]], untrained[half[len(half) // 2:]]
        fa, fb = (scorer.features_of_images(x, "half")[0] for x in (a, b))
        results["floors"][key] = {"reference": int(len(untrained)),
                                  "half_vs_half_fid": float(metrics.frechet_distance(fa, fb)),
                                  "halves": [int(len(a)), int(len(b))]}
        print(key, results["floors"][key], flush=True)
    scorer = cache[key]
    path, step = checkpoints.select(run, "latest", None)
    generator, weights = checkpoints.restore_generator(config, path)
    scores = scorer.score(generator)
    results["runs"][os.path.normpath(run)] = {
        "step": step, "weights": weights, "reference": key,
        **{k: float(v) for k, v in scores.items()}}
    print(run, step, round(scores["fid"], 3), round(scores["recall"], 3), flush=True)
    json.dump(results, open(out_path, "w"), indent=1)
