"""Video sources, the newest-wins mailbox and the reader's reconnect path (no Qt)."""

from __future__ import annotations

import threading

import cv2
import numpy as np
import pytest
from conftest import shared
from live_helpers import HANG_GUARD_MS, ScriptedSource, wait_for
from PIL import Image

from kiosk.capture.reader import CameraState, FrameReader, Mailbox
from kiosk.capture.sources import (
    CameraSource,
    Frame,
    ImageFolderSource,
    SourceError,
    StreamSource,
    VideoFileSource,
    letterbox,
    make_source,
    open_source,
    parse_size,
)

#: How long a stopped reader or consumer may take to end (a hang guard, not a timing).
JOIN_S = HANG_GUARD_MS / 1000


def coloured(i: int, size=(64, 48)) -> np.ndarray:
    w, h = size
    rgb = np.zeros((h, w, 3), np.uint8)
    rgb[..., 0] = (i * 40) % 256
    rgb[..., 1] = 200
    return rgb


# -- specs -------------------------------------------------------------------------------


def test_specs_pick_the_right_source(tmp_path):
    (tmp_path / "a.png").write_bytes(b"")
    (tmp_path / "clip.mp4").write_bytes(b"")
    assert isinstance(make_source("0"), CameraSource)
    assert make_source("2").index == 2
    stream = make_source("rtsp://admin:secret@cam.local:554/live")
    assert isinstance(stream, StreamSource)
    assert "secret" not in stream.description and "admin" in stream.description
    assert isinstance(make_source("http://cam.local/video.mjpg"), StreamSource)
    assert isinstance(make_source(str(tmp_path)), ImageFolderSource)
    assert isinstance(make_source(str(tmp_path / "a.png")), ImageFolderSource)
    assert isinstance(make_source(str(tmp_path / "clip.mp4")), VideoFileSource)
    assert isinstance(make_source("file://" + str(tmp_path / "clip.mp4")), VideoFileSource)


@pytest.mark.parametrize("spec", ["", "   ", "/no/such/file.mp4"])
def test_bad_specs_are_clear_errors(spec):
    with pytest.raises(SourceError):
        make_source(spec)


def test_replay_rate_is_for_files_only():
    with pytest.raises(SourceError, match="files and folders"):
        make_source("0", fps=30)


def test_parse_size():
    assert parse_size("640x480") == (640, 480)
    for bad in ("640", "axb", "1x1"):
        with pytest.raises(SourceError):
            parse_size(bad)


def test_letterbox_keeps_proportions():
    rgb = np.full((270, 480, 3), 255, np.uint8)
    out = letterbox(rgb, (640, 480))
    assert out.shape == (480, 640, 3)
    assert out[0, 320].sum() == 0 and out[240, 320].min() == 255  # black bars above, picture in the middle
    # 480x270 -> 640x360, centred: rows 60..419 are picture, 60 rows of black above and below.
    assert out[59, 320].sum() == 0 and out[60, 320].min() == 255
    assert out[419, 320].min() == 255 and out[420, 320].sum() == 0


# -- files and folders -------------------------------------------------------------------


def write_avi(path, n=12, size=(64, 48), fps=20.0):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, size)
    assert writer.isOpened()
    for i in range(n):
        writer.write(cv2.cvtColor(coloured(i, size), cv2.COLOR_RGB2BGR))
    writer.release()


def test_video_file_plays_to_the_end_or_loops(tmp_path):
    path = tmp_path / "clip.avi"
    write_avi(path, n=12)
    with open_source(str(path), loop=False) as source:
        assert source.fps == pytest.approx(20.0)
        frames = []
        while (rgb := source.read()) is not None:
            frames.append(rgb)
    assert len(frames) == 12
    assert frames[0].shape == (48, 64, 3)
    assert abs(int(frames[0][..., 1].mean()) - 200) < 8  # RGB order: the green channel is the bright one
    with open_source(str(path), loop=True) as source:
        looped = [source.read() for _ in range(30)]
    assert all(f is not None for f in looped)
    assert np.abs(looped[12].astype(int) - looped[0].astype(int)).mean() < 2  # back at frame 0


def test_video_file_that_is_not_a_video(tmp_path):
    path = tmp_path / "broken.mp4"
    path.write_bytes(b"not a video at all")
    with pytest.raises(SourceError):
        open_source(str(path))


def test_gif_frames_and_pillow_fallback(tmp_path):
    path = tmp_path / "anim.gif"
    frames = [Image.fromarray(coloured(i)) for i in range(5)]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=50, loop=0)
    with open_source(str(path), loop=False) as source:
        via_cv2 = []
        while (rgb := source.read()) is not None:
            via_cv2.append(rgb)
    from kiosk.capture.sources import _GifReader

    reader = _GifReader(path)
    via_pil = []
    while (rgb := reader.read()) is not None:
        via_pil.append(rgb)
    reader.release()
    assert len(via_cv2) == len(via_pil) == 5
    assert reader.fps == pytest.approx(20.0)
    assert all(np.abs(a.astype(int) - b.astype(int)).mean() < 3 for a, b in zip(via_cv2, via_pil))


@pytest.mark.data
def test_shared_clip_reads_as_video():
    path = shared("video", "head-pose-face-detection-female.gif")
    with open_source(str(path), loop=False) as source:
        n = 0
        while (rgb := source.read()) is not None:
            assert rgb.shape == (270, 480, 3)
            n += 1
    assert n == 23
    assert source.fps == pytest.approx(12.5)
    with open_source(str(path), size=(640, 480), fps=30) as scaled:
        assert scaled.read().shape == (480, 640, 3)
        assert scaled.fps == 30


def test_image_folder_slideshow_skips_bad_files(tmp_path, caplog):
    for i in range(3):
        Image.fromarray(coloured(i)).save(tmp_path / f"{i}.png")
    (tmp_path / "1b.jpg").write_bytes(b"broken")
    (tmp_path / "notes.txt").write_text("not an image")
    source = ImageFolderSource(tmp_path, interval_s=0.5, loop=True)
    assert source.fps == 2.0
    with source:
        got = [source.read() for _ in range(6)]
    assert [int(g[0, 0, 0]) for g in got] == [0, 40, 80, 0, 40, 80]
    assert "1b.jpg" in caplog.text
    with ImageFolderSource(tmp_path, loop=False) as once:
        assert [once.read() is None for _ in range(4)] == [False, False, False, True]


def test_empty_folder_is_an_error(tmp_path):
    with pytest.raises(SourceError, match="no images"):
        open_source(str(tmp_path))


def test_frames_are_read_only():
    frame = Frame(1, coloured(0), 0.0)
    with pytest.raises(ValueError):
        frame.rgb[0, 0, 0] = 1
    assert frame.size == (64, 48)
    with pytest.raises(ValueError):
        Frame(2, np.zeros((4, 4), np.uint8), 0.0)


# -- mailbox -----------------------------------------------------------------------------


def test_mailbox_newest_wins_and_counts_drops():
    box: Mailbox[int] = Mailbox()
    assert box.put(1) is False
    assert box.put(2) is True
    assert box.put(3) is True
    assert box.dropped == 2
    assert box.take(0) == 3
    assert box.take(0) is None
    assert box.latest == 3  # the display still sees the newest item after it was taken
    assert box.put_count == 3


def test_mailbox_close_wakes_a_waiting_consumer():
    box: Mailbox[int] = Mailbox()
    got = []
    consumer = threading.Thread(target=lambda: got.append(box.take(None)))
    consumer.start()
    box.close()
    consumer.join(JOIN_S)
    assert not consumer.is_alive()
    assert got == [None]
    assert box.put(1) is False and box.closed


# -- reader ------------------------------------------------------------------------------


def run_reader(factory, until, backoff=(0.01,)):
    box: Mailbox[Frame] = Mailbox()
    statuses = []
    reader = FrameReader(factory, box, statuses.append, backoff_s=backoff)
    reader.start()
    try:
        ok = wait_for(lambda: until(reader, box, statuses))
    finally:
        reader.stop()
        assert reader.join(JOIN_S)
    return ok, reader, box, statuses


def test_reader_reconnects_after_a_source_fails_mid_stream():
    log: dict = {}
    ok, reader, box, statuses = run_reader(
        lambda: ScriptedSource(coloured, fail_after=5, log=log),
        lambda r, b, s: r.frames_read >= 12)
    assert ok
    states = [s.state for s in statuses]
    assert states[:2] == [CameraState.CONNECTING, CameraState.LIVE]
    lost = states.index(CameraState.LOST)
    assert CameraState.LIVE in states[lost:]  # back without a restart
    assert "unplugged" in statuses[lost].message and statuses[lost].retry_in_s == 0.01
    assert reader.reconnects == 1
    assert log["opens"] == 2 and log["closes"] == 2
    assert states[-1] is CameraState.STOPPED
    assert box.latest.frame_id == reader.frames_read  # ids keep counting across the reconnect


def test_reader_releases_the_source_on_its_own_thread():
    log: dict = {}
    ok, reader, _, _ = run_reader(lambda: ScriptedSource(coloured, log=log), lambda r, b, s: r.frames_read >= 3)
    assert ok
    assert log["threads"] and threading.get_ident() not in log["threads"]
    assert len(log["threads"]) == 1
    assert log["closes"] == 1


def test_no_camera_is_reported_and_retried_with_backoff():
    ok, _, _, statuses = run_reader(
        lambda: ScriptedSource(fail_open=True),
        lambda r, b, s: sum(x.state is CameraState.NO_CAMERA for x in s) >= 3,
        backoff=(0.01, 0.02))
    assert ok
    waits = [s.retry_in_s for s in statuses if s.state is CameraState.NO_CAMERA]
    assert waits[:3] == [0.01, 0.02, 0.02]
    assert "no such device" in statuses[1].message


def test_a_finite_source_ends():
    ok, reader, _, statuses = run_reader(
        lambda: ScriptedSource(coloured, length=4, fps=None),
        lambda r, b, s: any(x.state is CameraState.ENDED for x in s))
    assert ok and reader.frames_read == 4


def test_reader_stops_while_waiting_to_reconnect():
    box: Mailbox[Frame] = Mailbox()
    reader = FrameReader(lambda: ScriptedSource(fail_open=True), box, backoff_s=(3600.0,))
    reader.start()
    assert wait_for(lambda: reader.status.state is CameraState.NO_CAMERA)
    reader.stop()
    assert reader.join(JOIN_S)  # the hour-long backoff is interrupted


def test_lockstep_hands_over_every_frame_at_the_media_time():
    box: Mailbox[Frame] = Mailbox()
    reader = FrameReader(lambda: ScriptedSource(coloured, fps=10.0, length=6), box, lockstep=True)
    reader.start()
    try:
        frames = [box.take(60) for _ in range(6)]  # a slow consumer: the reader waits for it
    finally:
        reader.stop()
        assert reader.join(JOIN_S)
    assert [f.frame_id for f in frames] == [1, 2, 3, 4, 5, 6] and box.dropped == 0
    assert [int(f.rgb[0, 0, 0]) for f in frames] == [0, 40, 80, 120, 160, 200]
    assert np.diff([f.timestamp for f in frames]) == pytest.approx([0.1] * 5)  # the clip's clock


def test_lockstep_does_not_hold_back_a_camera():
    box: Mailbox[Frame] = Mailbox()
    camera = ScriptedSource(coloured, fps=None)
    camera.live = True  # a device: its frames come whether or not anyone takes them
    reader = FrameReader(lambda: camera, box, lockstep=True)
    reader.start()
    try:
        assert wait_for(lambda: reader.frames_read >= 5)  # nobody takes: newest wins, as always
    finally:
        reader.stop()
        assert reader.join(JOIN_S)
    assert box.dropped >= 4
