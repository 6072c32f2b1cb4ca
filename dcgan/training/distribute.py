"""tf.distribute strategies from `config.runtime`: one device, local GPUs, a cluster, a TPU."""

import json
import os

import tensorflow as tf

from dcgan.errors import UserError, first_line


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
        # Already initialised in this process: fine if with the same split (several runs in
        # one process), otherwise the setting cannot take effect any more.
        have = len(tf.config.list_logical_devices("CPU"))
        if have != num_devices:
            raise UserError(
                f"runtime.virtual_cpu_devices={num_devices} cannot apply: TensorFlow already "
                f"started with {have} CPU device(s) in this process; set it in a new process"
            ) from None


def read_tf_config(text=None):
    """The cluster description in TF_CONFIG (or `text`), checked enough to name the mistake."""
    text = os.environ.get("TF_CONFIG", "") if text is None else text
    if not text:
        raise UserError(
            "runtime.distribute=multi_worker needs the cluster in TF_CONFIG; see the README")
    try:
        spec = json.loads(text)
        cluster, task = spec["cluster"], spec["task"]
        task_type, task_id = task["type"], int(task["index"])
        hosts = cluster[task_type]
    except (ValueError, KeyError, TypeError) as e:
        raise UserError(
            f"TF_CONFIG is not a valid cluster description ({type(e).__name__}: {e}); it needs "
            '{"cluster": {"worker": ["host:port", ...]}, "task": {"type": "worker", "index": i}}'
        ) from None
    if not 0 <= task_id < len(hosts):
        raise UserError(f"TF_CONFIG task index {task_id} is outside cluster[{task_type!r}] "
                        f"({len(hosts)} address(es))")
    return cluster, task_type, task_id


def is_chief_task(cluster, task_type, task_id):
    """The chief is the "chief" task, or worker 0 when the cluster names no chief."""
    if "chief" in cluster:
        return task_type == "chief"
    return task_type == "worker" and task_id == 0


def writes_run_files(distribute):
    """Whether this process owns the workdir (logs, samples, checkpoints).

    Reads only the config and TF_CONFIG, so the entry point can decide where to log before
    TensorFlow starts.
    """
    if distribute != "multi_worker":
        return True
    return is_chief_task(*read_tf_config())


def make_strategy(distribute, virtual_cpu_devices=0):
    """Build the strategy named by `runtime.distribute` (config_check.DISTRIBUTE_STRATEGIES)."""
    split_cpu(virtual_cpu_devices)
    if distribute == "default":
        return tf.distribute.get_strategy()
    if distribute == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        devices = [d.name for d in gpus] or [d.name for d in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(devices)
    if distribute == "multi_worker":
        read_tf_config()  # a clear error now rather than a traceback from the strategy
        return tf.distribute.MultiWorkerMirroredStrategy()
    if distribute != "tpu":
        raise ValueError(f"unknown strategy {distribute!r}")
    try:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver()
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
    except (ValueError, RuntimeError, tf.errors.OpError) as e:
        raise UserError(f"runtime.distribute=tpu found no TPU ({first_line(e)}); run on a TPU "
                        "VM or set TPU_NAME, or use runtime.distribute=default or mirrored") \
            from None
    return tf.distribute.TPUStrategy(resolver)


def is_chief(strategy):
    """Whether this process writes samples, logs and the real checkpoint."""
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return True
    resolver = strategy.cluster_resolver
    if resolver.task_type is None:  # a one-process "cluster"
        return True
    return is_chief_task(resolver.cluster_spec().as_dict(), resolver.task_type,
                         resolver.task_id)


def check_same_step(strategy, step):
    """Fail on every worker at once unless all of them restored the same step.

    Each worker restores the checkpoint it finds in its workdir; if the workdir is not on
    storage every worker shares, the workers would train from different states and their
    collective ops would stop matching (a hang, or silently wrong gradients).
    """
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return
    mine = tf.constant([step, step * step], tf.float64)

    def sums():
        return tf.distribute.get_replica_context().all_reduce(tf.distribute.ReduceOp.SUM, mine)

    total, squares = strategy.experimental_local_results(
        tf.function(lambda: strategy.run(sums))())[0].numpy()
    # All n values are equal exactly when n * sum(x^2) == sum(x)^2 (Cauchy-Schwarz).
    if strategy.num_replicas_in_sync * squares != total * total:
        raise UserError(
            f"the workers resumed from different steps (this one from {step}); put --workdir on "
            "storage every worker shares (e.g. an NFS mount, same path on every machine)")


def distribute_dataset(strategy, dataset):
    """Split each global batch of `dataset` over the replicas of every worker.

    The pipeline is built from arrays in memory, not files, so there are no files to shard
    by: with the DATA policy each worker runs the same pipeline, the global batch is cut into
    per-replica slices, and each worker keeps its own slices. The workers together train on
    exactly the batch a single device would.
    """
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return strategy.experimental_distribute_dataset(dataset.with_options(options))
