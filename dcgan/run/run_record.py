"""The run record: metrics.jsonl and TensorBoard events, written, read and trimmed here.

metrics.jsonl holds one JSON object per log step ({"step": N, "d_loss": ..., ...}); other
tools read it (`dcgan.report`, scripts/compare_presets.py, scripts/benchmark.py). TensorBoard
gets the same values under grouped tags, beside the equilibrium lines of the BCE story.

A resumed or rolled-back run trains some steps again, so everything recorded after the step it
continues from is dropped first (`Record.rewind`): a run never shows a step twice. Reading
needs no TensorFlow (the report command draws a run without it); writing and trimming events
load it when they run.
"""

import glob
import json
import os

from dcgan import equilibrium, files
from dcgan.run import workdir

# The losses when D outputs 1/2 everywhere: every BCE term is then ln 2.

# Quality metrics of in-training evaluation (features.quality_metrics, and a conditional run's
# conditional accuracy and means over its classes, quality/per_class), under quality/.
QUALITY_METRICS = ("fid", "kid", "kid_stderr", "classifier_score", "precision", "recall",
                   "conditional_accuracy", "class_precision", "class_recall", "class_fid",
                   "class_spread")
# metrics.jsonl keys (flat, read by other tools) -> TensorBoard tags, grouped into sections.
TENSORBOARD_TAGS = {
    "d_loss": "loss/d", "g_loss": "loss/g",
    "d_real": "discriminator/d_real", "d_fake": "discriminator/d_fake",
    "d_holdout": "discriminator/d_holdout", "d_trained": "discriminator/d_trained",
    "d_gap": "discriminator/d_gap",
    "d_sign_real": "discriminator/d_sign_real", "augment_p": "augment/p",
    "g_pair_distance": "generator/pair_distance", "d_r1": "discriminator/r1",
    "d_entropy": "cross_entropy/d_entropy", "d_kl": "cross_entropy/d_kl",
    "images_per_sec": "speed/images_per_sec",
    **{name: f"quality/{name}" for name in QUALITY_METRICS},
}
# Reference lines drawn beside the curves: the losses and D's output when D outputs 1/2.
TENSORBOARD_LINES = {
    "loss/d_equilibrium": equilibrium.D_LOSS,
    "loss/g_equilibrium": equilibrium.G_LOSS,
    "discriminator/half": equilibrium.D_OUTPUT,
}


def read_metrics(root):
    """The records of WORKDIR/metrics.jsonl, in order; a line cut short by a crash is skipped."""
    path = workdir.RunDir(root).metrics
    if not os.path.exists(path):
        return []
    records = []
    with open(path) as f:
        for line in f:
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict) and "step" in record:
                records.append(record)
    return records


def custom_scalars_layout():
    """TensorBoard's Custom Scalars tab: each curve on one chart with its reference line."""
    from tensorboard.plugins.custom_scalar import layout_pb2

    def chart(title, *tags):
        return layout_pb2.Chart(title=title, multiline=layout_pb2.MultilineChartContent(
            tag=[f"^{tag}$" for tag in tags]))

    return layout_pb2.Layout(category=[layout_pb2.Category(title="GAN", chart=[
        chart("discriminator loss vs 2 ln 2", "loss/d", "loss/d_equilibrium"),
        chart("generator loss vs ln 2", "loss/g", "loss/g_equilibrium"),
        chart("D(x) and D(G(z)) vs 0.5", "discriminator/d_real", "discriminator/d_fake",
              "discriminator/half"),
        chart("overfitting: D on held-out vs as many training images, and the gap",
              "discriminator/d_holdout", "discriminator/d_trained", "discriminator/d_gap"),
        chart("overfitting: E[sign D(x)] and the augmentation's p", "discriminator/d_sign_real",
              "augment/p"),
        chart("discriminator BCE = H(q) + KL(q || p)", "loss/d", "cross_entropy/d_entropy",
              "cross_entropy/d_kl"),
        chart("collapse within classes: recall of all samples and within each class, spread",
              "quality/recall", "quality/class_recall", "quality/class_spread"),
    ])])


class Record:
    """metrics.jsonl and TensorBoard summaries of the run in `run_dir` (a workdir.RunDir),
    written by the chief only."""

    def __init__(self, run_dir, enabled):
        self.run = run_dir
        self.enabled = enabled
        self.metrics_path = self.run.metrics
        self.writer = None

    def rewind(self, step):
        """Drop what was recorded after `step`, then (re)open the TensorBoard writer.

        The order matters: the open writer would append its buffered events to the file being
        trimmed, so it is closed first and a new one (a new event file) opened after.
        """
        if not self.enabled:
            return
        if self.writer is not None:
            self.writer.close()
            self.writer = None
        _trim_metrics(self.metrics_path, step)
        for grid_step, path in self.run.sample_grids().items():
            if grid_step > step:
                os.remove(path)
        for path in self.run.unfinished_sample_grids():
            os.remove(path)
        trim_events(self.run.tensorboard, step)
        self._open_writer()

    def _open_writer(self):
        import tensorflow as tf
        from tensorboard.summary.v1 import custom_scalar_pb

        self.writer = tf.summary.create_file_writer(self.run.tensorboard)
        with self.writer.as_default(step=0):
            tf.summary.experimental.write_raw_pb(
                custom_scalar_pb(custom_scalars_layout()).SerializeToString(), step=0)

    def scalars(self, step, record, learning_rates=None):
        """Appends `record` to metrics.jsonl and writes it, with reference lines, to TensorBoard.

        `learning_rates` ({"g_learning_rate": ..., ...}) joins the line, and TensorBoard's
        optim/ tags: with a schedule they change from step to step.
        """
        if not self.enabled:
            return
        import tensorflow as tf

        with open(self.metrics_path, "a") as f:
            f.write(json.dumps({"step": step, **record, **(learning_rates or {})}) + "\n")
        with self.writer.as_default(step=step):
            for name, value in record.items():
                tf.summary.scalar(TENSORBOARD_TAGS.get(name, name), value)
            for name, value in TENSORBOARD_LINES.items():
                tf.summary.scalar(name, value)
            for name, value in (learning_rates or {}).items():
                tf.summary.scalar(f"optim/{name}", value)
        self.writer.flush()

    def image(self, step, grid):
        if not self.enabled:
            return
        import tensorflow as tf

        with self.writer.as_default(step=step):
            image = grid[None, :, :, None] if grid.ndim == 2 else grid[None]
            tf.summary.image("samples", image)
        self.writer.flush()

    def close(self):
        if self.writer is not None:
            self.writer.close()
            self.writer = None


def _trim_metrics(path, step):
    if not os.path.exists(path):
        return
    with open(path) as f:
        lines = f.readlines()
    kept = []
    for line in lines:
        try:
            if json.loads(line)["step"] <= step:
                kept.append(line if line.endswith("\n") else line + "\n")
        except (ValueError, KeyError, TypeError):
            pass  # a line cut short by a crash
    if kept != lines:
        files.write_lines_atomically(path, kept)


def trim_events(folder, step):
    """Rewrite the TensorBoard event files under `folder` without events after `step`.

    Event files are TFRecord files of Event protos. The file_version record (step 0) stays; a
    record cut short by a kill ends the file.
    """
    import tensorflow as tf
    from google.protobuf.message import DecodeError
    from tensorflow.core.util import event_pb2

    for path in glob.glob(os.path.join(glob.escape(folder), "**", "events.out.tfevents.*"),
                          recursive=True):
        records, dropped = [], False
        try:
            for raw in tf.data.TFRecordDataset(path):
                raw = raw.numpy()
                if event_pb2.Event.FromString(raw).step > step:
                    dropped = True
                else:
                    records.append(raw)
        except (tf.errors.OpError, DecodeError):  # a last record cut short by a kill
            dropped = True
        if dropped:
            # No "tfevents" in the name: TensorBoard must never read a half-written copy.
            with files.replaced_atomically(path, temporary=".trimmed-events.tmp") as tmp, \
                    tf.io.TFRecordWriter(tmp) as writer:
                for raw in records:
                    writer.write(raw)
