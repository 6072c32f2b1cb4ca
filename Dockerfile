# Image for training, sampling and evaluating DCGANs; on GPUs with the default base.
#
#   docker build -t dcgan:latest .
#   docker build -t dcgan:latest --build-arg BASE=python:3.11-slim-bookworm .
#   scripts/docker_run.sh --config=configs/mnist.py --workdir=runs/mnist
#
# BASE defaults to the official TensorFlow GPU image whose tag is the tensorflow pin in
# pyproject.toml (tests/test_container.py checks it): it ships that TensorFlow built against its
# own CUDA and cuDNN, and pip keeps it as is. Any other base with python3 (3.11 or newer) and pip
# works too: the dependency layer then installs the pinned TensorFlow itself.
ARG BASE=tensorflow/tensorflow:2.21.0-gpu
FROM ${BASE}

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
# reinstall them. The list is pyproject.toml's, the tensorflow pin included: pip finds the GPU
# base's TensorFlow satisfies it and leaves it alone, and installs it on a base without one. A
# base with another TensorFlow is refused, not overwritten: its CUDA build would be replaced by a
# mismatched one. PIP_BREAK_SYSTEM_PACKAGES lets pip install into a Debian-style system Python
# (PEP 668); the image is the environment, so there is nothing else to break.
COPY pyproject.toml ./
# pip settings for the build alone (a mirror, a proxy, a CA bundle, a longer timeout), e.g.
# --build-arg PIP_INDEX_URL=https://mirror/simple: the RUN steps see them, the image keeps none.
ARG PIP_INDEX_URL PIP_EXTRA_INDEX_URL PIP_TRUSTED_HOST PIP_PROXY PIP_CERT PIP_DEFAULT_TIMEOUT \
    PIP_RETRIES
RUN python3 -c "import importlib.metadata as md, re, sys, tomllib; deps = tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']; pin = [d.split('==')[1].strip() for d in deps if re.match(r'[A-Za-z0-9._-]+', d).group().lower() == 'tensorflow'][0]; have = [d.version for d in md.distributions() if d.metadata['Name'].lower() == 'tensorflow']; have and have[0] != pin and sys.exit(f'error: the base image has tensorflow {have[0]} but pyproject.toml pins {pin}; build on the tensorflow/tensorflow:{pin}-gpu image or on a base without TensorFlow'); print(*deps, sep=chr(10))" > /tmp/requirements.txt \
    && PIP_BREAK_SYSTEM_PACKAGES=1 python3 -m pip install --no-cache-dir --root-user-action=ignore \
        --requirement /tmp/requirements.txt \
    && rm /tmp/requirements.txt

# The package itself (console scripts dcgan-train, dcgan-sample, dcgan-evaluate and the configs
# package). configs/ stays in /app so `--config=configs/mnist.py` works as on the host, and the
# runs/ and data/ links make the host's relative paths (`--workdir=runs/mnist`) land on the
# volumes instead of the container's throwaway layer.
COPY . .
RUN PIP_BREAK_SYSTEM_PACKAGES=1 python3 -m pip install --no-cache-dir --root-user-action=ignore --no-deps . \
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
