"""How long work reports itself: a live bar on a terminal, log lines elsewhere.

`Progress` follows training; `Counter` follows a count of items, such as images scored. On an
interactive terminal one line is rewritten in place (carriage return, no newline), e.g. the
step, percent done, ETA, images per second, both losses, D(x) and D(G(z)):

    step 1200/1500  80%  [################    ]  ETA 25s  960 img/s  g 0.740  d 1.360  D(x) ...

Piped into a file, a CI log or `tee`, carriage returns would pile up into one unreadable line,
so the same news becomes ordinary log lines instead. Either way train.log gets the log lines.
tqdm and keras.utils.Progbar were set aside: on a pipe tqdm still writes carriage returns, and
Progbar prints a new line at every update (20 a second) to stdout, outside the run's log.
"""

import logging
import os
import sys
import time

log = logging.getLogger("dcgan")

# Redraw at most this often: a terminal is slow next to a fast step, and the eye needs no more.
_REDRAW_SECONDS = 0.1
_BAR_WIDTH = 20
# The bar shows these record keys, in this order, under short labels.
_BAR_FIELDS = (("g_loss", "g"), ("d_loss", "d"), ("d_real", "D(x)"), ("d_fake", "D(G(z))"))


def format_duration(seconds):
    """1h02m, 3m05s or 42s: an ETA is read at a glance, not to the millisecond."""
    seconds = max(0, int(round(seconds)))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


class _ClearBarFirst(logging.Filter):
    """Wipes the bar before another message reaches the terminal, so the two never share a line.

    Attached to the handlers that write to the bar's stream; the bar is drawn again on the next
    update.
    """

    def __init__(self, progress):
        super().__init__()
        self.progress = progress

    def filter(self, record):
        self.progress.clear()
        return True


def _bar(fraction):
    filled = int(_BAR_WIDTH * min(max(fraction, 0.0), 1.0))
    return "[" + "#" * filled + " " * (_BAR_WIDTH - filled) + "]"


class _LiveLine:
    """One line on a terminal, redrawn in place; on anything else, nothing is drawn.

    While the line is up, other log messages to the same stream wipe it first (it comes back
    on the next redraw). Subclasses say what the line holds (`_line(width)`) and log instead
    when the stream is not interactive.
    """

    def __init__(self, stream=None, enabled=True):
        self.stream = stream or sys.stderr
        self.enabled = enabled
        try:
            self.interactive = enabled and self.stream.isatty()
        except (AttributeError, ValueError):  # no isatty, or a closed stream
            self.interactive = False
        self._shown = False  # the line is on screen and the cursor sits at its end
        self._last_draw = 0.0
        self._filters = []
        if self.interactive:
            self._guard_other_messages()

    def _guard_other_messages(self):
        for logger in (logging.getLogger(), log):
            for handler in logger.handlers:
                if getattr(handler, "stream", None) is self.stream:
                    bar_filter = _ClearBarFirst(self)
                    handler.addFilter(bar_filter)
                    self._filters.append((handler, bar_filter))

    def _line(self, width):
        raise NotImplementedError

    def _redraw(self, now, force=False):
        """Draws the line if forced or if it was last drawn long enough ago."""
        if force or now - self._last_draw >= _REDRAW_SECONDS:
            self._draw()
            self._last_draw = now

    def _columns(self):
        try:
            columns = os.get_terminal_size(self.stream.fileno()).columns
        except (AttributeError, ValueError, OSError):
            columns = 0
        # A pseudo-terminal nobody sized reports 0 columns; assume a common width.
        return columns or 120

    def _draw(self):
        # A line wider than the terminal wraps, and \r then rewrites only its last row.
        self.stream.write("\r" + self._line(self._columns() - 1) + "\x1b[K")
        self.stream.flush()
        self._shown = True

    def clear(self):
        """Erases the line from the terminal (it comes back on the next update)."""
        if self._shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self._shown = False

    def _started(self):
        return True

    def close(self):
        """Leaves the final line on screen on a line of its own, and stops guarding the log."""
        for handler, bar_filter in self._filters:
            handler.removeFilter(bar_filter)
        self._filters = []
        if self.interactive and self._started():
            if not self._shown:  # wiped by a message since; the final state deserves a look
                self._draw()
            self.stream.write("\n")
            self.stream.flush()
            self._shown = False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Progress(_LiveLine):
    """Reports training progress from `start_step` up to `num_steps`.

    Args:
        start_step: the step the run starts or resumes at. The bar shows the whole run; the
            rate behind the ETA and images/s counts only the steps this process trains.
        num_steps: the step training ends at.
        batch_size: global batch size, for images per second.
        stream: where the bar goes; sys.stderr by default (where the log lines go too).
        enabled: False on the workers of a multi-worker run, which stay silent.
        max_seconds: the run's time budget (training.max_seconds; 0: none). Percent and ETA
            follow whichever of the budget and num_steps ends the run first.
    """

    def __init__(self, start_step, num_steps, batch_size, stream=None, enabled=True,
                 max_seconds=0):
        super().__init__(stream, enabled)
        self.start_step = start_step
        self.num_steps = num_steps
        self.batch_size = batch_size
        self.max_seconds = max_seconds
        self.seconds = None  # seconds trained so far, as counted against max_seconds
        self.last_record = {}
        # The rate is timed from the first update: the step before it includes the tf.function
        # trace, which would make every ETA of a short run far too long.
        self._first = None  # (step, time) of the first update
        self._latest = None

    def rate(self):
        """Steps per second since the first update, or None before two updates."""
        if self._first is None or self._latest is None:
            return None
        steps = self._latest[0] - self._first[0]
        seconds = self._latest[1] - self._first[1]
        return steps / seconds if steps > 0 and seconds > 0 else None

    def eta(self, step):
        return self._progress(step)[1]

    def _progress(self, step):
        """(fraction done, seconds left or None) against the limit that ends the run first."""
        rate = self.rate()
        by_steps = (step / max(self.num_steps, 1),
                    None if rate is None else (self.num_steps - step) / rate)
        if not self.max_seconds or self.seconds is None:
            return by_steps
        left = max(self.max_seconds - self.seconds, 0.0)
        if by_steps[1] is not None and by_steps[1] <= left:
            return by_steps
        return min(self.seconds / self.max_seconds, 1.0), left

    def update(self, step, record=None, seconds=None):
        """Called after each chunk of training steps; `record` is passed on log steps only,
        `seconds` (the seconds trained, counted against max_seconds) when the run has a budget.
        """
        if not self.enabled:
            return
        if seconds is not None:
            self.seconds = seconds
        now = time.perf_counter()
        # The rate is timed on the run's own clock when it has one: the seconds the budget
        # counts, so both ETAs are on the same clock.
        clock = now if seconds is None else seconds
        if self._first is None:
            self._first = (step, clock)
        self._latest = (step, clock)
        if record:
            self.last_record = {**self.last_record, **record}
        if self.interactive:
            self._redraw(now, force=bool(record) or step >= self.num_steps)
            if record:
                # The bar stands in for the log line on screen; train.log still gets it.
                self._log(step, record, to_terminal=False)
        elif record:
            self._log(step, record, to_terminal=True)

    def status(self, step):
        """step/total, percent and ETA: the start of both the bar and the log line."""
        fraction, eta = self._progress(step)
        percent = 100.0 * fraction
        eta_text = "--" if eta is None else format_duration(eta)
        return f"step {step}/{self.num_steps} {percent:3.0f}%", f"ETA {eta_text}"

    def bar_line(self, step, width=None):
        """The bar's text; the bar graphic goes first if the line does not fit in `width`."""
        counted, eta = self.status(step)
        graphic = _bar(self._progress(step)[0])
        rate = self.rate()
        images_per_sec = (self.last_record.get("images_per_sec") if rate is None
                          else rate * self.batch_size)
        tail = [eta]
        if images_per_sec is not None:
            tail.append(f"{images_per_sec:.0f} img/s")
        tail += [f"{label} {self.last_record[key]:.3f}"
                 for key, label in _BAR_FIELDS if key in self.last_record]
        line = "  ".join([counted, graphic, *tail])
        if width is not None and len(line) > width:
            line = "  ".join([counted, *tail])[:width]
        return line

    def _line(self, width):
        return self.bar_line(self._latest[0], width=width)

    def _started(self):
        return self._latest is not None

    def _log(self, step, record, to_terminal):
        counted, eta = self.status(step)
        values = "  ".join(f"{k} {v:.4g}" for k, v in record.items())
        if to_terminal:
            log.info("%s  %s  %s", counted, eta, values)
            return
        entry = log.makeRecord(log.name, logging.INFO, __file__, 0, "%s  %s  %s",
                               (counted, eta, values), None)
        for handler in log.handlers:  # the run's file handlers, not the root's terminal one
            if getattr(handler, "stream", None) is not self.stream and \
                    entry.levelno >= handler.level:
                handler.handle(entry)



class Counter(_LiveLine):
    """Reports progress through `total` items (images scored, say) under a `label`.

    On a terminal: `label  1200/2000  60%  [############        ]  14s  ETA 9s`, redrawn in
    place. Elsewhere a log line about every tenth of the way, so a long job shows life in a CI
    log without flooding it.
    """

    def __init__(self, total, label, stream=None, enabled=True):
        super().__init__(stream, enabled)
        self.total, self.label, self.done = max(int(total), 1), label, 0
        self.start = time.perf_counter()
        self._next_tenth = 1

    def update(self, n):
        """Counts `n` more items done."""
        if not self.enabled:
            return
        self.done = min(self.done + n, self.total)
        if self.interactive:
            self._redraw(time.perf_counter(), force=self.done == self.total)
        elif self.done * 10 >= self._next_tenth * self.total:
            self._next_tenth = self.done * 10 // self.total + 1
            log.info("%s: %d/%d (%.0f%%, %s)", self.label, self.done, self.total,
                     100 * self.done / self.total,
                     format_duration(time.perf_counter() - self.start))

    def _line(self, width):
        seconds = time.perf_counter() - self.start
        fraction = self.done / self.total
        eta = format_duration(seconds * (1 - fraction) / fraction) if self.done else "--"
        parts = [self.label, f"{self.done}/{self.total}", f"{100 * fraction:3.0f}%",
                 _bar(fraction), format_duration(seconds), f"ETA {eta}"]
        line = "  ".join(parts)
        if len(line) > width:
            line = "  ".join(p for p in parts if not p.startswith("["))[:width]
        return line
