"""`face-kiosk bench --live SOURCE`: the real main window and worker on a clip, measured.

The clip is replayed as "someone arrives": a blank gap (longer than a track survives), then
one pass of the clip, again and again. For every pass the benchmark knows when the first
frame with a face was captured and sees when the video first painted a name, so the
"face appears -> name shown" latency is measured per arrival, on screen. Display FPS,
analysis and recognition rates, drops, the longest GUI event-loop stall and the memory
(RSS) trend are printed with the targets next to them; nothing is asserted.
"""

from __future__ import annotations

import argparse
import bisect
import gc
import logging
import os
import statistics
import threading
import time
from collections.abc import Callable

import numpy as np

from kiosk.capture.sources import FrameSource, SourceError, make_source, parse_size
from kiosk.config import Config
from kiosk.diagnostics.memory import rss_mb
from kiosk.errors import KioskError

log = logging.getLogger(__name__)

GAP_S = 1.5  # blank time between passes: longer than a track lives, so each pass is a new arrival
STALL_TICK_MS = 5  # the probe timer's period; a stall is how much later than this a tick came
STALL_BINS = 2001  # lateness histogram: 0..2000 ms, the last bin holds anything longer
WARMUP_S = 2.0  # stalls and memory this soon after the models loaded are start-up, not steady state


class ArrivalsSource(FrameSource):
    """A finite clip replayed as arrivals: `gap_s` of grey frames, one pass of the clip, repeat.

    Records the capture time of each pass's first frame with a face (`first_face_index`).
    """

    def __init__(self, inner: FrameSource, first_face_index: int, gap_s: float = GAP_S) -> None:
        self.inner = inner
        self.description = inner.description
        self.first_face_index = first_face_index
        self.gap_s = gap_s
        self._gap_frames = self._gap_left = 0
        self._index = 0
        self._blank: np.ndarray | None = None
        self.face_times: list[float] = []  # monotonic time each pass's first face frame was read
        self._lock = threading.Lock()

    @property
    def fps(self) -> float | None:  # type: ignore[override]
        return self.inner.fps  # a file knows its rate only once it is open

    def open(self) -> None:
        self.inner.open()
        first = self.inner.read()
        if first is None:
            raise SourceError(f"{self.description}: no frames")
        self._blank = np.full_like(first, 128)
        self.inner.close()
        self.inner.open()
        self._gap_frames = max(1, round(self.gap_s * (self.inner.fps or 25.0)))
        self._gap_left, self._index = self._gap_frames, 0

    def read(self) -> np.ndarray | None:
        if self._gap_left > 0:
            self._gap_left -= 1
            return self._blank
        rgb = self.inner.read()
        if rgb is None:  # pass over: gap, then the clip again from the start
            self.inner.close()
            self.inner.open()
            self._gap_left, self._index = self._gap_frames - 1, 0
            return self._blank
        if self._index == self.first_face_index:
            with self._lock:
                self.face_times.append(time.monotonic())
        self._index += 1
        return rgb

    def close(self) -> None:
        self.inner.close()

    def passes(self) -> list[float]:
        """Face-appearance times so far."""
        with self._lock:
            return list(self.face_times)


class Probe:
    """What the GUI thread measures, online and in constant memory (runs may last hours)."""

    def __init__(self, face_times: Callable[[], list[float]]) -> None:
        self._face_times = face_times
        self.ready_at = float("inf")  # when the models were loaded; nothing before counts
        self.names: list[float] = []  # per arrival: face appears -> name painted (s)
        self.boxes: list[float] = []  # per arrival: face appears -> box painted (s)
        self._named_pass = self._boxed_pass = -1
        self._last_tick: float | None = None
        self.stall_hist = np.zeros(STALL_BINS, np.int64)  # 1 ms bins of tick lateness
        self.max_stall_ms = 0.0
        self.rss: list[tuple[float, float]] = []  # (time, MB) once a second

    def on_paint(self, info) -> None:
        """A paint of the video: is it the first with a box / a name since the face appeared?"""
        times = self._face_times()
        k = bisect.bisect_right(times, info.frame_timestamp) - 1
        if k < 0 or times[k] < self.ready_at:
            return
        if info.boxes and k > self._boxed_pass:
            self._boxed_pass = k
            self.boxes.append(info.painted_at - times[k])
        if info.names and k > self._named_pass:
            self._named_pass = k
            self.names.append(info.painted_at - times[k])

    def on_tick(self) -> None:
        """The stall probe's timer fired: how late was it?"""
        now = time.monotonic()
        if self._last_tick is not None and now - self.ready_at >= WARMUP_S:
            late = max(0.0, (now - self._last_tick) * 1000 - STALL_TICK_MS)
            self.max_stall_ms = max(self.max_stall_ms, late)
            self.stall_hist[min(int(late), STALL_BINS - 1)] += 1
        self._last_tick = now

    def on_second(self) -> None:
        """Sample the resident memory."""
        now = time.monotonic()
        if now - self.ready_at >= WARMUP_S:
            self.rss.append((now, rss_mb()))

    def stall_percentile(self, q: float) -> float:
        """The q-th percentile of tick lateness in ms (1 ms resolution)."""
        total = int(self.stall_hist.sum())
        if not total:
            return float("nan")
        return float(np.searchsorted(np.cumsum(self.stall_hist), q / 100 * total))

    def arrivals(self) -> int:
        """Arrivals (passes) since the models were ready."""
        return sum(1 for t in self._face_times() if t >= self.ready_at)


def first_face_index(spec: str, config: Config, size: tuple[int, int] | None, limit: int = 200) -> int:
    """Index of the clip's first frame in which the detector finds a face (-1: none)."""
    from kiosk.vision.pipeline import FacePipeline

    pipeline = FacePipeline(config.vision)
    try:
        with make_source(spec, loop=False, size=size) as source:
            for index in range(limit):
                rgb = source.read()
                if rgb is None:
                    break
                if len(pipeline.detect(rgb)):
                    return index
    finally:
        close = getattr(pipeline.detector, "close", None)
        if close is not None:
            close()
    return -1


def _fmt_ms(values: list[float]) -> str:
    if not values:
        return "n/a"
    ms = [v * 1000 for v in values]
    return f"median {statistics.median(ms):.0f} ms, worst {max(ms):.0f} ms (n={len(ms)})"


def run_live_bench(args: argparse.Namespace, config: Config) -> int:
    """Run the main window with its worker on `args.live` for `args.seconds`; print the numbers."""
    if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import Qt, QTimer

    from kiosk.gallery import Gallery
    from kiosk.gallery.target import gallery_file
    from ui.app import make_application
    from ui.main_window import MainWindow

    size = parse_size(args.size) if getattr(args, "size", None) else None
    fps = getattr(args, "fps", None)
    seconds = float(getattr(args, "seconds", 20.0) or 20.0)
    spec = args.live
    if spec.strip().isdigit() or "://" in spec:
        raise KioskError("bench --live replays a clip (a file or a folder), not a camera or a stream")
    index = first_face_index(spec, config, size)
    gc.collect()  # the pre-pass's models must not count in the memory trend
    if index < 0:
        raise SourceError(f"{spec}: no face found in the clip")
    source_holder: list[ArrivalsSource] = []

    def factory() -> FrameSource:
        source = ArrivalsSource(make_source(spec, loop=False, size=size, fps=fps), index)
        source_holder.append(source)
        return source

    db = gallery_file(args, config)
    app = make_application()
    gallery = Gallery(db)
    people = len(gallery.people())
    window = MainWindow(config, gallery, factory)
    probe = Probe(lambda: source_holder[-1].passes() if source_holder else [])
    window.video.frame_painted.connect(probe.on_paint)
    stall_timer = QTimer()
    stall_timer.setTimerType(Qt.TimerType.PreciseTimer)
    stall_timer.setInterval(STALL_TICK_MS)
    stall_timer.timeout.connect(probe.on_tick)
    rss_timer = QTimer()
    rss_timer.setInterval(1000)
    rss_timer.timeout.connect(probe.on_second)

    def models_ready(version: str) -> None:
        # Passes that began while the models were loading measure the start-up, not an arrival.
        probe.ready_at = min(probe.ready_at, time.monotonic())

    window.worker.models_ready.connect(models_ready)
    size_text = f"{size[0]}x{size[1]}" if size else "native size"
    rate_text = f"{fps:g} fps" if fps else "its own rate"
    print(f"live benchmark: {spec} ({size_text}, {rate_text}), {seconds:g} s, gallery {people} people ({db})",
          flush=True)
    window.resize(960, 640)
    window.show()
    window.start()
    t_start = time.monotonic()
    stall_timer.start()
    rss_timer.start()
    QTimer.singleShot(int(seconds * 1000), app.quit)
    try:
        app.exec()
    finally:
        stall_timer.stop()
        rss_timer.stop()
        stats = window.worker.stats()
        display_frames = window.video.frames_painted
        window.shutdown()
        window.close()
        gallery.close()
    t_end = time.monotonic()
    elapsed = max(1e-6, t_end - t_start)
    read = stats.frames_read
    print_table(
        display_fps=display_frames / elapsed,
        source_fps=read / elapsed,
        analysis_fps=stats.frames_analysed / elapsed,
        recognitions=stats.recognitions_total / elapsed,
        dropped=stats.dropped,
        read=read,
        names=probe.names,
        boxes=probe.boxes,
        arrivals=probe.arrivals(),
        people=people,
        stall_ms=probe.max_stall_ms,
        stall_p99=probe.stall_percentile(99),
        rss=probe.rss,
        timings=stats.timings,
        model=stats.model_version,
    )
    return 0


def print_table(*, display_fps, source_fps, analysis_fps, recognitions, dropped, read, names, boxes, arrivals, people,
                stall_ms, stall_p99, rss, timings, model) -> None:
    """The benchmark's report (targets beside the numbers; nothing asserted)."""
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"
    rows = [
        ("source frames/s", f"{source_fps:.1f}", ""),
        ("display FPS (new frames painted)", f"{display_fps:.1f}", ">= 25 at 30 fps in"),
        ("analysis FPS (frames detected+tracked)", f"{analysis_fps:.1f}", ""),
        ("recognitions/s (faces embedded)", f"{recognitions:.1f}", ""),
        ("dropped frames", f"{dropped} of {read} ({100 * dropped / max(1, read):.0f}%)", ""),
        ("arrivals (clip passes after model load)", str(arrivals), ""),
        ("face appears -> name shown", _fmt_ms(names) if people else "n/a (empty gallery)", "<= 300 ms"),
        ("face appears -> box shown", _fmt_ms(boxes), ""),
        ("longest GUI stall", f"{stall_ms:.1f} ms (p99 {stall_p99:.1f} ms)", "<= 50 ms"),
        ("last frame: detect/analyse/embed+match", f"{timings.detect_ms:.0f}/{timings.analyse_ms:.0f}/"
                                                   f"{timings.embed_ms:.0f} ms", ""),
    ]
    if len(rss) >= 2:
        (t0, m0), (t1, m1) = rss[0], rss[-1]
        slope = (m1 - m0) / max(1e-6, (t1 - t0) / 60)
        rows.append(("memory (RSS)", f"{m0:.0f} -> {m1:.0f} MB ({slope:+.1f} MB/min)", "no growth"))
    rows.append(("model", model or "not loaded", ""))
    rows.append(("CPU", f"{os.cpu_count()} cores, load average {load}", ""))
    width = max(len(r[0]) for r in rows)
    for name, value, target in rows:
        print(f"  {name:<{width}}  {value}" + (f"   [target {target}]" if target else ""))
