# GPU image for training, sampling and evaluating DCGANs.
#
#   docker build -t dcgan:latest .
#   scripts/docker_run.sh --config=configs/mnist.py --workdir=runs/mnist
#
# The base tag must equal the tensorflow pin in pyproject.toml (tests/test_container.py checks
# it): the base image ships TensorFlow built against its own CUDA and cuDNN, so it is reused as
# is and never reinstalled by pip.
FROM tensorflow/tensorflow:2.21.0-gpu

LABEL org.opencontainers.image.title="dcgan" \
      org.opencontainers.image.description="Train DCGANs from the command line, resume, sample and export."

# HOME is fixed because docker_run.sh runs as the caller's uid, which has no passwd entry in the
# image; Keras, Matplotlib and tensorflow-datasets keep small caches under it.
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    TFDS_DATA_DIR=/data/tensorflow_datasets \
    HOME=/home/dcgan

# The image's own user, for plain `docker run`. The home and the volume directories are
# world-writable (sticky, like /tmp) so that any --user uid can write its caches and, when no
# host directory is mounted, its runs and downloads.
RUN useradd --no-log-init --create-home --home-dir /home/dcgan --uid 10001 --user-group dcgan \
    && mkdir -p /runs /data/tensorflow_datasets \
    && chown dcgan:dcgan /runs /data /data/tensorflow_datasets \
    && chmod 1777 /home/dcgan /runs /data /data/tensorflow_datasets

WORKDIR /app

# Dependencies get their own layer, keyed on pyproject.toml alone, so editing the code does not
# reinstall them. TensorFlow is dropped from the list and pinned to the base image's version by
# a constraint: no other package can pull in a different (CPU-only or mismatched CUDA) build.
COPY pyproject.toml ./
RUN python3 -c "import importlib.metadata as md; print('tensorflow==' + md.version('tensorflow'))" > /tmp/constraints.txt \
    && python3 -c "import re, tomllib; deps = tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']; print(*(d for d in deps if re.match(r'[A-Za-z0-9._-]+', d).group().lower() != 'tensorflow'), sep='\n')" > /tmp/requirements.txt \
    && python3 -m pip install --no-cache-dir --root-user-action=ignore \
        --requirement /tmp/requirements.txt --constraint /tmp/constraints.txt \
    && rm /tmp/constraints.txt /tmp/requirements.txt

# The package itself (console scripts dcgan-train, dcgan-sample, dcgan-evaluate and the configs
# package). configs/ stays in /app so `--config=configs/mnist.py` works as on the host, and the
# runs/ and data/ links make the host's relative paths (`--workdir=runs/mnist`) land on the
# volumes instead of the container's throwaway layer.
COPY . .
RUN python3 -m pip install --no-cache-dir --root-user-action=ignore --no-deps . \
    && rm -rf build ./*.egg-info \
    && ln -s /runs runs \
    && ln -s /data data

# Numeric, so runtimes that enforce non-root (Kubernetes runAsNonRoot) can verify it.
USER 10001:10001

# Only the two top-level directories are volumes. The TFDS data dir lives inside /data on
# purpose: declaring /data/tensorflow_datasets as a volume of its own would make Docker mount an
# anonymous volume over it even when the host binds /data, hiding the host's downloads.
VOLUME ["/runs", "/data"]

# TensorBoard, when the image is run with `--entrypoint tensorboard` (docker_run.sh tensorboard).
EXPOSE 6006

# A training run is a batch job with no service to probe; its liveness is the process itself and
# its progress is in train.log and metrics.jsonl.
HEALTHCHECK NONE

ENTRYPOINT ["dcgan-train"]
