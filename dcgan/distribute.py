"""tf.distribute strategies from `config.runtime`."""

import json
import os

import tensorflow as tf

from dcgan.errors import UserError

STRATEGIES = ("default", "mirrored", "multi_worker", "tpu")


def split_cpu(num_devices):
    """Split the physical CPU into logical devices; must run before TensorFlow touches devices."""
    if num_devices <= 1:
        return
    cpu = tf.config.list_physical_devices("CPU")[0]
    try:
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(num_devices)]
        )
    except RuntimeError:
        # Already initialised in this process with the same split (tests build several runs).
        if len(tf.config.list_logical_devices("CPU")) != num_devices:
            raise


def make_strategy(distribute, virtual_cpu_devices=0):
    """Build the strategy named by `runtime.distribute`."""
    if distribute not in STRATEGIES:
        raise UserError(f"runtime.distribute={distribute!r} is not supported; "
                        f"use one of {', '.join(STRATEGIES)}")
    split_cpu(virtual_cpu_devices)
    if distribute == "default":
        return tf.distribute.get_strategy()
    if distribute == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        devices = [d.name for d in gpus] or [d.name for d in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(devices)
    if distribute == "multi_worker":
        if "TF_CONFIG" not in os.environ:
            raise UserError(
                "runtime.distribute=multi_worker needs the cluster in TF_CONFIG; see the README"
            )
        return tf.distribute.MultiWorkerMirroredStrategy()
    resolver = tf.distribute.cluster_resolver.TPUClusterResolver()
    tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
    return tf.distribute.TPUStrategy(resolver)


def is_chief(strategy):
    """Whether this process writes samples, logs and the real checkpoint."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return True
    task_type, task_id = resolver.task_type, resolver.task_id
    if task_type is None:
        return True
    # The chief is the "chief" task, or worker 0 when the cluster names no chief.
    cluster = json.loads(os.environ.get("TF_CONFIG", "{}")).get("cluster", {})
    if "chief" in cluster:
        return task_type == "chief"
    return task_type == "worker" and task_id == 0
