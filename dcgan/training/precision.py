"""Choose the numeric precision of a run: the fastest one that keeps sample quality."""

import tensorflow as tf


def cpu_supports_bfloat16(cpuinfo_path="/proc/cpuinfo"):
    """True when the CPU multiplies bfloat16 natively (AVX512-BF16 or AMX)."""
    try:
        with open(cpuinfo_path) as f:
            flags = f.read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def choose_policy(gpu_compute_capabilities, cpu_has_bfloat16):
    """The policy `auto` resolves to.

    Args:
      gpu_compute_capabilities: (major, minor) per visible GPU; empty on CPU-only machines.
      cpu_has_bfloat16: whether the CPU has native bfloat16 arithmetic.
    """
    if gpu_compute_capabilities:
        oldest = min(gpu_compute_capabilities)
        if oldest >= (8, 0):  # Ampere and newer: bfloat16 tensor cores, no loss scaling needed
            return "mixed_bfloat16"
        if oldest >= (7, 0):  # Volta/Turing: float16 tensor cores only
            return "mixed_float16"
        return "float32"
    return "mixed_bfloat16" if cpu_has_bfloat16 else "float32"


def resolve_precision(precision):
    """Map `training.precision` (one of config_check.PRECISIONS) to a Keras dtype policy name."""
    if precision != "auto":
        return precision
    capabilities = []
    for gpu in tf.config.list_physical_devices("GPU"):
        details = tf.config.experimental.get_device_details(gpu)
        capabilities.append(tuple(details.get("compute_capability", (0, 0))))
    return choose_policy(capabilities, cpu_supports_bfloat16())
