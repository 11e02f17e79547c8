"""Long-run memory benchmark of kiosk mode: loop clips through the real worker and kiosk window.

Visitors come and go (each clip is followed by empty frames, so every pass is a new track:
greetings, unknown visitors, check-ins with a short cooldown) while the resident memory of
the process is printed every `--every` seconds. Memory should stay flat after warm-up.

    QT_QPA_PLATFORM=offscreen nice python tools/kiosk_soak.py --minutes 15 \\
        ../shared/data/video/head-pose-face-detection-female.gif \\
        ../shared/data/video/head-pose-face-detection-male.gif

Without `--db`, the person of the first clip is enrolled as "Demo" in a temporary gallery
(so the first clip is greeted and the others are unknown visitors).
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from kiosk.diagnostics.memory import rss_mb

log = logging.getLogger("kiosk_soak")


def _frames(path: Path) -> list[np.ndarray]:
    from PIL import Image

    with Image.open(path) as im:
        out = []
        for i in range(getattr(im, "n_frames", 1)):
            im.seek(i)
            out.append(np.asarray(im.convert("RGB")).copy())
    return out


def _decoded(path: Path) -> Iterator[np.ndarray]:
    """The clip's frames, decoded one at a time as a camera delivers them: the soak measures the
    kiosk's memory, not a copy of every clip held by this tool."""
    from PIL import Image

    with Image.open(path) as im:
        for i in range(getattr(im, "n_frames", 1)):
            im.seek(i)
            yield np.asarray(im.convert("RGB")).copy()


def make_looped_source(paths: list[Path], gap_frames: int, fps: float):
    """A FrameSource factory: each clip, then `gap_frames` empty frames, round and round."""
    from PIL import Image

    from kiosk.capture.sources import FrameSource, letterbox

    with Image.open(paths[0]) as first:
        size = first.size
    blank = np.zeros((size[1], size[0], 3), np.uint8)

    def forever() -> Iterator[np.ndarray]:
        while True:
            for path in paths:
                for rgb in _decoded(path):
                    yield letterbox(rgb, size)
                for _ in range(gap_frames):
                    yield blank

    class Looped(FrameSource):
        description = "looped clips"

        def __init__(self) -> None:
            self.fps = fps
            self.frames = forever()

        def open(self) -> None:
            self.frames = forever()

        def read(self) -> np.ndarray:
            return next(self.frames)

        def close(self) -> None:
            pass

    return Looped


def enroll_first_clip(db: Path, clip: Path) -> None:
    """Enroll the person of `clip` as "Demo" from two of its frames."""
    from kiosk.enrollment.samples import make_sample, pick_enrollment_face
    from kiosk.gallery import Gallery, PersonDetails
    from kiosk.vision.pipeline import FacePipeline

    pipeline = FacePipeline()
    frames = _frames(clip)
    picks = [frames[len(frames) // 2], frames[-3]]
    samples = [make_sample(pipeline, pick_enrollment_face(pipeline.analyze(f))) for f in picks]
    gallery = Gallery(db)
    gallery.add_person(PersonDetails("Demo"), samples, pipeline.model_version)
    gallery.close()
    close = getattr(pipeline.detector, "close", None)
    if close is not None:
        close()


def main(argv: list[str] | None = None) -> int:
    """Run the soak; prints one line per interval and a summary."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("clips", nargs="+", type=Path, help="GIF/image clips to loop")
    ap.add_argument("--minutes", type=float, default=15.0)
    ap.add_argument("--every", type=float, default=30.0, help="seconds between memory lines")
    ap.add_argument("--db", type=Path, help="an enrolled gallery (default: enroll the first clip)")
    ap.add_argument("--gap", type=int, default=25, help="empty frames after each clip")
    ap.add_argument("--fps", type=float, default=12.5)
    ap.add_argument("--cooldown", type=int, default=60, help="check-in cooldown (s) during the soak")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("GLOG_minloglevel", "2")

    tmp = tempfile.TemporaryDirectory(prefix="kiosk-soak-")
    db = args.db
    if db is None:
        db = Path(tmp.name) / "soak.db"
        enroll_first_clip(db, args.clips[0])

    from ui.app import make_application

    app = make_application()
    from PySide6.QtCore import QTimer

    from kiosk.checkin.flow import Screen
    from kiosk.config import Config, KioskConfig
    from kiosk.gallery import Gallery
    from ui.kiosk_mode import KioskWindow
    from ui.worker import LiveWorker

    config = Config(kiosk=KioskConfig(cooldown_s=args.cooldown, greeting_s=2))
    gallery = Gallery(db)
    worker = LiveWorker(config, gallery, make_looped_source(args.clips, args.gap, args.fps))
    kiosk = KioskWindow(worker, gallery, config, unlock=lambda parent: False)
    counts = {s: 0 for s in Screen}
    kiosk.state_changed.connect(lambda s: counts.__setitem__(s.screen, counts[s.screen] + 1))
    frames = [0]
    worker.result_ready.connect(lambda r: frames.__setitem__(0, frames[0] + 1))
    kiosk.resize(1280, 720)
    kiosk.showFullScreen()
    worker.start()

    start = time.monotonic()
    samples: list[tuple[float, float]] = []

    def report() -> None:
        gc.collect()
        t = time.monotonic() - start
        rss = rss_mb()
        samples.append((t, rss))
        v = gallery.counts()["visits"]
        print(f"t={t:7.0f}s rss={rss:7.1f} MB frames={frames[0]:6d} greetings={counts[Screen.GREETING]:4d}"
              f" unknown={counts[Screen.UNKNOWN]:4d} visits={v:4d} camera={worker.camera.state.value}"
              # A C extension that drops references to None kills the process when this hits 0.
              f" refs(None)={sys.getrefcount(None)}", flush=True)

    def finish() -> None:
        report()
        kiosk.locked = False
        kiosk.close()
        app.quit()

    timer = QTimer()
    timer.timeout.connect(report)
    timer.start(int(args.every * 1000))
    QTimer.singleShot(int(args.minutes * 60_000), finish)
    report()
    app.exec()
    worker.stop()
    worker.wait()
    gallery.close()
    tmp.cleanup()

    # The first minute loads the models; the first few fill bounded caches (tracks, cursors).
    warm = [s for s in samples if s[0] >= 60] or samples
    mid = warm[len(warm) // 2]
    first, last = warm[0], warm[-1]
    hours = max(1e-9, (last[0] - mid[0]) / 3600)
    print(f"summary: start {first[1]:.1f} MB @ {first[0]:.0f}s, middle {mid[1]:.1f} MB @ {mid[0]:.0f}s, "
          f"end {last[1]:.1f} MB @ {last[0]:.0f}s; second half {(last[1] - mid[1]) / hours:+.1f} MB/h; "
          f"{frames[0]} frames, {counts[Screen.GREETING]} greetings, "
          f"{counts[Screen.UNKNOWN]} unknown", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
