"""`face-kiosk bench`: latency per stage, end to end for one face, 1:N at scale, peak RSS.

Benchmarks print tables; they never assert (tests don't time anything).
"""

from __future__ import annotations

import argparse
import functools
import statistics
import time
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from kiosk.capture.images import load_rgb
from kiosk.config import Config
from kiosk.diagnostics.crowd_bench import crowd_timing
from kiosk.diagnostics.liveness_bench import liveness_table
from kiosk.diagnostics.memory import peak_rss_mb
from kiosk.gallery.api import TemplateSet
from kiosk.recognition.matching import Matcher
from kiosk.resources import resource_path
from kiosk.vision.align import align_mesh
from kiosk.vision.detectors import MediaPipeDetector
from kiosk.vision.landmarks import Roi
from kiosk.vision.pipeline import FacePipeline

TARGET_ONE_FACE_MS = 35.0  # issue 23: one new face, live path, 1 thread
TARGET_1N_100K_MS = 5.0
TARGET_CROWD_MS = 300.0  # issue 23: three people entering together, last name shown
TARGET_1N_1M_MS = 8.0


class Timing(NamedTuple):
    """Milliseconds over the runs of one benchmark row."""

    mean: float
    p95: float
    cpu: float  # mean CPU time of the process (all its threads)
    median: float


def _time(fn: Callable[[], object], repeat: int) -> Timing:
    """Mean, p95, mean CPU and median milliseconds over `repeat` runs after one warm-up.

    The CPU column is the process's CPU time: on a machine shared with other jobs the wall clock
    also counts the time the scheduler gave them, the CPU time much less so. The process's, not
    the calling thread's: OpenCV (YuNet, SFace) runs on its own worker threads too.
    """
    fn()
    samples, cpu = [], []
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
        cpu.append((time.process_time() - start_cpu) * 1000)
    samples.sort()
    return Timing(statistics.fmean(samples), samples[min(len(samples) - 1, int(0.95 * len(samples)))],
                  statistics.fmean(cpu), statistics.median(samples))


def synthetic_templates(n: int, dim: int, per_person: int = 4, seed: int = 0) -> TemplateSet:
    """n random unit vectors, `per_person` templates per person."""
    rng = np.random.default_rng(seed)
    matrix = rng.standard_normal((n, dim), dtype=np.float32)
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    ids = np.arange(n, dtype=np.int64) // per_person
    kinds = np.array(["full"] * n)
    return TemplateSet("synthetic", ids, kinds, matrix, {})


def stage_table(pipeline: FacePipeline, rgb: np.ndarray, repeat: int) -> list[tuple[str, float, float, float]]:
    """Per-stage latency on one photo with one face, as the live path runs it."""
    rows: list[tuple[str, float, float, float]] = []

    def _row(fn: Callable[[], object], repeat: int) -> tuple[float, float, float]:
        t = _time(fn, repeat)
        return t.mean, t.p95, t.cpu

    detector = pipeline.detector
    faces = pipeline.analyze(rgb, max_faces=1)
    if not faces:
        raise RuntimeError("the benchmark photo has no detectable face")
    face = faces[0]
    if isinstance(detector, MediaPipeDetector):
        rows.append(("detect (MediaPipe BlazeFace alone)", *_row(lambda: detector.detect_blazeface(rgb), repeat)))
        live, detector.live = detector.live, False
        rows.append(("detect (BlazeFace + YuNet, a full pass)", *_row(lambda: pipeline.detect(rgb), repeat)))
        detector.live = live
    runs = getattr(detector, "yunet_runs", 0)
    video = np.zeros((0, 4), np.float32)  # frames of a live video, nothing tracked yet
    rows.append((f"detect (as the app runs it: {pipeline.config.detector})",
                 *_row(lambda: pipeline.detect(rgb, video), repeat)))
    if isinstance(detector, MediaPipeDetector):
        rows.append((f"  ... YuNet ran on {detector.yunet_runs - runs} of {repeat + 1} frames", 0.0, 0.0, 0.0))
    found = pipeline.detect(rgb)
    box, eyes = found.xyxy[0], found.keypoints[0][:2]
    rows.append(("face mesh (one pass, 478 points)", *_row(lambda: pipeline.mesh.run(rgb, Roi.from_box(box, eyes)),
                                                            repeat)))
    rows.append(("face mesh (as run: passes until settled)",
                 *_row(lambda: pipeline.mesh.landmarks(rgb, box, eyes), repeat)))
    assert face.mesh is not None
    mesh = face.mesh
    rows.append(("align (mesh points, similarity)", *_row(lambda: align_mesh(rgb, mesh), repeat)))
    crop = face.aligned[None]
    rows.append(("mask flag", *_row(lambda: pipeline.mask_classifier.predict(crop), repeat)))
    rows.append((f"embed ({pipeline.embedding.name})", *_row(lambda: pipeline.embed_aligned(crop), repeat)))
    gallery = synthetic_templates(1000, pipeline.embedding.dim)
    matcher = Matcher(gallery)
    probe = face.embedding[None]
    rows.append(("match (1:N, 1k templates)", *_row(lambda: matcher.identify(probe, np.array([False])), repeat)))
    return rows


def events_table(repeat: int) -> list[tuple[str, float, float]]:
    """What events cost the recognition loop, in microseconds: the per-frame metrics update and
    `EventBus.publish` (it only queues) with no target, and with a webhook and an MQTT broker
    that cannot be reached (the worst case: every delivery fails and is retried off-thread)."""
    import datetime as dt
    import socket

    from kiosk.events import (
        EventBus,
        EventsConfig,
        KioskEvent,
        KioskMetrics,
        MqttConfig,
        WebhookTarget,
    )

    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    event = KioskEvent(event="arrival", t=1.0, track=1, kiosk="bench", site="bench", person="Ada Lovelace",
                       person_id=1, score=0.61, logged=True, time=dt.datetime.now(dt.timezone.utc))
    metrics = KioskMetrics()
    rows = [("metrics per frame", _time(lambda: metrics.frame("bench", 40.0), repeat * 20))]
    setups = (("publish, no target", EventsConfig()),
              ("publish, webhook + MQTT unreachable", EventsConfig(
                  # Validated from the raw URL, as a config file's would be (the str becomes a URL).
                  webhooks=[WebhookTarget.model_validate({"url": f"http://127.0.0.1:{port}/hook"})],
                  mqtt=MqttConfig(host="127.0.0.1", port=port))))
    for label, cfg in setups:
        bus = EventBus.from_config(cfg, metrics=metrics)
        try:
            rows.append((label, _time(functools.partial(bus.publish, event), repeat * 20)))
        finally:
            bus.close(timeout=1.0)
    return [(name, t.median * 1000, t.p95 * 1000) for name, t in rows]


def main_bench(args: argparse.Namespace, config: Config) -> int:
    """Print the benchmark tables."""
    repeat = max(3, int(args.repeat))
    rgb = load_rgb(resource_path("images", "astronaut.png"))
    start = time.perf_counter()
    pipeline = FacePipeline(config.vision)
    load_ms = (time.perf_counter() - start) * 1000
    print(f"face-kiosk bench: detector={config.vision.detector} embedder={config.vision.embedder}, "
          f"photo 512x512 with one face, {repeat} runs each; model load {load_ms:.0f} ms\n")

    print(f"{'stage':<42}{'mean ms':>10}{'p95 ms':>10}{'CPU ms':>10}")
    for name, mean, p95, cpu in stage_table(pipeline, rgb, repeat):
        print(f"{name:<42}{mean:>10.2f}{p95:>10.2f}{cpu:>10.2f}" if mean else name)

    matcher = Matcher(synthetic_templates(1000, pipeline.embedding.dim))
    still = FacePipeline(config.vision, still=True)
    for label, pipe in (("end to end, live (a new face)", pipeline), ("end to end, photo (all cores)", still)):

        def one_face(pipe: FacePipeline = pipe) -> None:
            # A new face: detected (live: as a video frame, so YuNet runs only where BlazeFace
            # is unsure), its landmarks searched from the box, aligned, flagged, embedded, matched.
            found = pipe.detect(rgb, np.zeros((0, 4), np.float32) if not pipe.still else None)
            faces = pipe.analyze_detections(rgb, found.take([0])).faces
            matcher.identify(np.stack([f.embedding for f in faces]), np.array([f.masked for f in faces]))

        mean, p95, cpu, _ = _time(one_face, repeat)
        verdict = "ok" if mean <= TARGET_ONE_FACE_MS else f"MISSES by {mean - TARGET_ONE_FACE_MS:.1f} ms"
        print(f"{label:<42}{mean:>10.2f}{p95:>10.2f}{cpu:>10.2f}   target <= {TARGET_ONE_FACE_MS:.0f} ms: {verdict}")

    crowd = crowd_timing(pipeline, still, rgb, max(5, repeat // 4), config)
    verdict = "ok" if crowd.median_ms <= TARGET_CROWD_MS else f"MISSES by {crowd.median_ms - TARGET_CROWD_MS:.0f} ms"
    print(f"\n{'three people entering together (live)':<42}{'median ms':>10}{'p95 ms':>10}{'CPU ms':>10}{'frames':>8}")
    print(f"{'  until the last name is shown':<42}{crowd.median_ms:>10.1f}{crowd.p95_ms:>10.1f}{crowd.cpu_ms:>10.1f}"
          f"{crowd.frames:>8.0f}   target <= {TARGET_CROWD_MS:.0f} ms: {verdict}"
          + (f" ({crowd.runs - crowd.named} of {crowd.runs} runs never named all three)" if crowd.named < crowd.runs
             else ""))

    print(f"\n{'liveness (kiosk.liveness, passive mode)':<42}{'median ms':>10}")
    face = pipeline.analyze(rgb, max_faces=1)[0]
    for name, med in liveness_table(rgb, face, repeat):
        print(f"{name:<42}{med:>10.2f}")

    print(f"\n{'events (what recognition pays)':<42}{'median us':>10}{'p95 us':>10}")
    for name, med, p95 in events_table(repeat):
        print(f"{name:<42}{med:>10.1f}{p95:>10.1f}")

    print(f"\n{'1:N gallery (templates)':<26}{'people':>10}{'mean ms':>11}{'p95 ms':>9}{'RSS MB':>9}")
    probe = np.random.default_rng(1).standard_normal((1, pipeline.embedding.dim)).astype(np.float32)
    probe /= np.linalg.norm(probe)
    for size in [int(s) for s in args.sizes.split(",") if s.strip()]:
        templates = synthetic_templates(size, pipeline.embedding.dim)
        big = Matcher(templates)

        def one_probe(m: Matcher = big) -> None:
            m.identify(probe, np.array([False]))

        med, p95, *_ = _time(one_probe, max(5, repeat // 2 if size >= 1_000_000 else repeat))
        note = ""
        target = {100_000: TARGET_1N_100K_MS, 1_000_000: TARGET_1N_1M_MS}.get(size)
        if target is not None:
            note = f"  target <= {target:.0f} ms: " + ("ok" if med <= target else f"MISSES by {med - target:.2f} ms")
        print(f"{size:<26,}{templates.n_people:>10,}{med:>11.2f}{p95:>9.2f}{peak_rss_mb():>9.0f}{note}")
        del big, templates
    print(f"\npeak RSS {peak_rss_mb():.0f} MB")
    return 0
