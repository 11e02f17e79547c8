"""Video sources behind one small interface: webcam, video file, image folder, network stream.

A source only produces RGB frames; opening, pacing, frame ids and reconnecting belong to
`kiosk.capture.reader.FrameReader`, which calls `open`, `read` and `close` from its own thread
(a capture device must be released by the thread that reads it).

`make_source(spec)` turns the one `--source` string into a source without touching any
device: "0" is a webcam index, "rtsp://..." or "http://..." a stream, a folder a slideshow,
a file a video (GIFs included) or a single photo.
"""

from __future__ import annotations

import logging
import math
import os
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypedDict

import cv2
import numpy as np

from kiosk.capture.images import IMAGE_SUFFIXES, load_rgb
from kiosk.errors import ImageError, KioskError, os_reason

if TYPE_CHECKING:
    from typing_extensions import Unpack

log = logging.getLogger(__name__)

# As a source a GIF is a clip (the test videos are GIFs), not one photo.
_PHOTO_SUFFIXES = IMAGE_SUFFIXES - {".gif"}

STREAM_SCHEMES = ("rtsp://", "rtsps://", "rtmp://", "http://", "https://", "udp://", "tcp://")
# A stalled network stream must not block the reader (and so a clean stop) for long.
STREAM_TIMEOUT_MS = 5000


class SourceError(KioskError):
    """A source cannot be opened, or stopped delivering frames (unplugged, dropped, deleted)."""


@dataclass(frozen=True)
class Frame:
    """One captured frame. `rgb` is read-only: frames are shared between threads."""

    frame_id: int
    rgb: np.ndarray  # (h, w, 3) uint8 RGB
    timestamp: float  # time.monotonic() when it was captured

    def __post_init__(self) -> None:
        if self.rgb.ndim != 3 or self.rgb.shape[2] != 3 or self.rgb.dtype != np.uint8:
            raise ValueError(f"rgb must be (h, w, 3) uint8, got {self.rgb.shape} {self.rgb.dtype}")
        self.rgb.flags.writeable = False

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) in pixels."""
        return int(self.rgb.shape[1]), int(self.rgb.shape[0])


class FrameSource(ABC):
    """Something that yields RGB frames. Used from one thread only (the reader's)."""

    #: Human-readable name for the status bar and messages.
    description: str = "source"
    #: Replay rate for files and folders; None when the device paces itself (camera, stream).
    fps: float | None = None
    #: True for devices and streams (frames come in real time and can be lost).
    live: bool = False

    @abstractmethod
    def open(self) -> None:
        """Acquire the device or file; raises SourceError when it is not there."""

    @abstractmethod
    def read(self) -> np.ndarray | None:
        """The next RGB frame; None at the end of a finite source; SourceError when lost."""

    @abstractmethod
    def close(self) -> None:
        """Release the device (idempotent)."""

    def __enter__(self) -> FrameSource:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _bgr_to_rgb(bgr: np.ndarray) -> np.ndarray:
    if bgr.ndim == 2:
        return cv2.cvtColor(bgr, cv2.COLOR_GRAY2RGB)
    if bgr.shape[2] == 4:
        return cv2.cvtColor(bgr, cv2.COLOR_BGRA2RGB)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


class _OpenCvCapture(FrameSource):
    """Shared reading and release for the sources backed by a cv2.VideoCapture."""

    description: str
    _cap: cv2.VideoCapture | None

    def _lost_message(self) -> str:
        raise NotImplementedError

    def read(self) -> np.ndarray | None:
        if self._cap is None:
            raise SourceError(f"{self.description} is not open")
        ok, bgr = self._cap.read()
        if not ok or bgr is None:
            raise SourceError(self._lost_message())
        return _bgr_to_rgb(bgr)

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None


class CameraSource(_OpenCvCapture):
    """A webcam by index (OpenCV). Asks for `width` x `height`; the driver may pick another size."""

    live = True

    def __init__(self, index: int, width: int = 640, height: int = 480) -> None:
        self.index = index
        self.width, self.height = width, height
        self.description = f"camera {index}"
        self._cap: cv2.VideoCapture | None = None

    def open(self) -> None:
        cap = cv2.VideoCapture(self.index)
        if not cap.isOpened():
            cap.release()
            raise SourceError(f"no camera at index {self.index}")
        cap.set(cv2.CAP_PROP_FRAME_WIDTH, self.width)
        cap.set(cv2.CAP_PROP_FRAME_HEIGHT, self.height)
        # A driver-side queue would hand us stale frames; newest frame wins.
        cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)
        self._cap = cap

    def _lost_message(self) -> str:
        return f"{self.description} stopped sending frames (unplugged?)"


class StreamSource(_OpenCvCapture):
    """A network stream (RTSP, HTTP MJPEG, ...) through OpenCV's FFmpeg backend."""

    live = True

    def __init__(self, url: str) -> None:
        self.url = url
        self.description = _redact(url)
        self._cap: cv2.VideoCapture | None = None

    def open(self) -> None:
        params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, STREAM_TIMEOUT_MS, cv2.CAP_PROP_READ_TIMEOUT_MSEC, STREAM_TIMEOUT_MS]
        cap = cv2.VideoCapture(self.url, cv2.CAP_FFMPEG, params)
        if not cap.isOpened():
            cap.release()
            raise SourceError(f"cannot connect to {self.description}")
        self._cap = cap

    def _lost_message(self) -> str:
        return f"{self.description}: stream dropped"


def _redact(url: str) -> str:
    """The URL without a password (it ends up in the status bar and logs)."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest.split("/", 1)[0]:
        return url
    creds, _, host = rest.partition("@")
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}"


class _GifReader:
    """Pillow fallback for GIFs OpenCV's build cannot decode."""

    def __init__(self, path: Path) -> None:
        from PIL import Image

        try:
            self._img = Image.open(path)
        except OSError as exc:
            raise SourceError(f"{path}: cannot read GIF ({exc})") from None
        self._index = 0
        self.fps = 1000.0 / max(20, int(self._img.info.get("duration", 100)))

    def read(self) -> np.ndarray | None:
        if self._index >= getattr(self._img, "n_frames", 1):
            return None
        try:
            self._img.seek(self._index)
            rgb = np.asarray(self._img.convert("RGB"), np.uint8).copy()
        except (OSError, EOFError) as exc:
            raise SourceError(f"GIF frame {self._index}: {exc}") from None
        self._index += 1
        return rgb

    def release(self) -> None:
        self._img.close()


class VideoFileSource(FrameSource):
    """A video file (anything OpenCV's FFmpeg reads; GIFs fall back to Pillow), replayed at its rate."""

    def __init__(self, path: str | Path, loop: bool = True) -> None:
        self.path = Path(path)
        self.loop = loop
        self.description = self.path.name
        self.fps = 25.0
        self._cap: cv2.VideoCapture | None = None
        self._gif: _GifReader | None = None
        self._frames_this_pass = 0

    def open(self) -> None:
        if not self.path.is_file():
            raise SourceError(f"{self.path}: no such file")
        cap = cv2.VideoCapture(str(self.path))
        if cap.isOpened():
            fps = cap.get(cv2.CAP_PROP_FPS)
            self.fps = fps if math.isfinite(fps) and 1 <= fps <= 240 else 25.0
            self._cap = cap
        else:
            cap.release()
            if self.path.suffix.lower() != ".gif":
                raise SourceError(f"{self.path}: not a video OpenCV can read")
            self._gif = _GifReader(self.path)
            self.fps = self._gif.fps
        self._frames_this_pass = 0

    def _read_one(self) -> np.ndarray | None:
        if self._cap is not None:
            ok, bgr = self._cap.read()
            return _bgr_to_rgb(bgr) if ok and bgr is not None else None
        if self._gif is not None:
            return self._gif.read()
        raise SourceError(f"{self.description} is not open")

    def read(self) -> np.ndarray | None:
        rgb = self._read_one()
        if rgb is None and self.loop:
            if self._frames_this_pass == 0:
                raise SourceError(f"{self.path}: no frames could be decoded")
            # Re-opening is the portable way back to frame 0 (seeking GIFs in FFmpeg is not).
            self.close()
            self.open()
            rgb = self._read_one()
        if rgb is None:
            if self.loop or self._frames_this_pass == 0:
                raise SourceError(f"{self.path}: no frames could be decoded")
            return None
        self._frames_this_pass += 1
        return rgb

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None
        if self._gif is not None:
            self._gif.release()
            self._gif = None


class ImageFolderSource(FrameSource):
    """A slideshow of the images in a folder (sorted by name), `interval_s` per image.

    Unreadable images are skipped with a warning; the folder is listed again on each pass,
    so photos dropped in while it runs are picked up.
    """

    def __init__(self, path: str | Path, interval_s: float = 2.0, loop: bool = True) -> None:
        if interval_s <= 0:
            raise SourceError("the slideshow interval must be positive")
        self.path = Path(path)
        self.loop = loop
        self.fps = 1.0 / interval_s
        self.description = f"{self.path.name or self.path}/ (slideshow)"
        self._files: list[Path] = []
        self._index = 0

    def _list(self) -> list[Path]:
        if self.path.is_file():
            return [self.path]
        try:
            return sorted(p for p in self.path.iterdir() if p.suffix.lower() in _PHOTO_SUFFIXES and p.is_file())
        except OSError as exc:
            raise SourceError(f"{self.path}: cannot list the folder ({exc.strerror})") from None

    def open(self) -> None:
        if not self.path.exists():
            raise SourceError(f"{self.path}: no such folder")
        self._files = self._list()
        if not self._files:
            raise SourceError(f"{self.path}: no images in this folder")
        self._index = 0

    def read(self) -> np.ndarray | None:
        for _attempt in range(len(self._files) + 1):
            if self._index >= len(self._files):
                if not self.loop:
                    return None
                self._files, self._index = self._list(), 0
                if not self._files:
                    raise SourceError(f"{self.path}: the images are gone")
            path = self._files[self._index]
            self._index += 1
            try:
                return load_rgb(path)
            except ImageError as exc:
                log.warning("slideshow: skipped %s", exc)
        raise SourceError(f"{self.path}: none of the images can be read")

    def close(self) -> None:
        self._files = []


class ResizedSource(FrameSource):
    """Another source scaled to fit `size` (w, h) and padded with black, keeping proportions.

    Used to run a 480x270 clip as the 640x480 camera the targets are stated for.
    """

    def __init__(self, inner: FrameSource, size: tuple[int, int]) -> None:
        self.inner = inner
        self.size = size
        self.live = inner.live
        self.description = f"{inner.description} @{size[0]}x{size[1]}"

    @property
    def fps(self) -> float | None:  # type: ignore[override]
        return self.inner.fps

    def open(self) -> None:
        self.inner.open()

    def read(self) -> np.ndarray | None:
        rgb = self.inner.read()
        return None if rgb is None else letterbox(rgb, self.size)

    def close(self) -> None:
        self.inner.close()


class RateSource(FrameSource):
    """Another (finite) source replayed at `fps` instead of its own rate."""

    def __init__(self, inner: FrameSource, fps: float) -> None:
        if not fps > 0:
            raise SourceError("the replay rate must be positive")
        self.inner = inner
        self.fps = fps
        self.live = inner.live
        self.description = f"{inner.description} @{fps:g} fps"

    def open(self) -> None:
        self.inner.open()

    def read(self) -> np.ndarray | None:
        return self.inner.read()

    def close(self) -> None:
        self.inner.close()


def letterbox(rgb: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Scale `rgb` to fit (w, h) without distortion and centre it on black."""
    w, h = size
    ih, iw = rgb.shape[:2]
    if (iw, ih) == (w, h):
        return rgb
    scale = min(w / iw, h / ih)
    nw, nh = max(1, round(iw * scale)), max(1, round(ih * scale))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    out = np.zeros((h, w, 3), np.uint8)
    x, y = (w - nw) // 2, (h - nh) // 2
    out[y : y + nh, x : x + nw] = cv2.resize(rgb, (nw, nh), interpolation=interp)
    return out


def make_source(
    spec: str,
    *,
    loop: bool = True,
    camera_size: tuple[int, int] = (640, 480),
    interval_s: float = 2.0,
    size: tuple[int, int] | None = None,
    fps: float | None = None,
) -> FrameSource:
    """The source a `--source` string names, not yet opened (no device is touched here).

    "0", "1", ...: webcam index; "rtsp://", "http(s)://", ...: network stream; a folder:
    slideshow every `interval_s`; a photo: that photo; any other file: a video (looped when
    `loop`). `size` letterboxes every frame to (w, h); `fps` replays a file at that rate.
    """
    spec = spec.strip()
    if not spec:
        raise SourceError("empty source: give a camera index, a file, a folder or a stream URL")
    source: FrameSource
    if spec.isdigit():
        source = CameraSource(int(spec), *camera_size)
    elif spec.lower().startswith(STREAM_SCHEMES):
        source = StreamSource(spec)
    else:
        path = Path(os.path.expanduser(spec[7:] if spec.startswith("file://") else spec))
        try:
            path.stat()
        except FileNotFoundError:
            pass  # said below, with what a source may be
        except OSError as exc:  # a name too long, a folder we may not enter
            raise SourceError(f"{spec}: cannot open ({os_reason(exc)})") from None
        if path.is_dir():
            source = ImageFolderSource(path, interval_s=interval_s, loop=loop)
        elif path.is_file():
            if path.suffix.lower() in _PHOTO_SUFFIXES:
                source = ImageFolderSource(path, interval_s=interval_s, loop=loop)
            else:
                source = VideoFileSource(path, loop=loop)
        else:
            raise SourceError(f"{spec}: no such file, folder or camera (a camera is a number, e.g. 0)")
    if fps is not None:
        if source.live:
            raise SourceError("a replay rate only applies to files and folders")
        source = RateSource(source, fps)
    if size is not None:
        source = ResizedSource(source, size)
    return source


class SourceOptions(TypedDict, total=False):
    """make_source's keyword options, for the helpers that pass them on."""

    loop: bool
    camera_size: tuple[int, int]
    interval_s: float
    size: tuple[int, int] | None
    fps: float | None


def open_source(spec: str, **options: Unpack[SourceOptions]) -> FrameSource:
    """`make_source(spec, **options)`, opened (for scripts and tests; the app opens in its reader)."""
    source = make_source(spec, **options)
    source.open()
    return source


def parse_size(text: str) -> tuple[int, int]:
    """'640x480' -> (640, 480); SourceError on anything else."""
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise SourceError(f"{text!r}: a size is WIDTHxHEIGHT, e.g. 640x480") from None
    if not (16 <= w <= 7680 and 16 <= h <= 4320):
        raise SourceError(f"{text!r}: size out of range")
    return w, h
