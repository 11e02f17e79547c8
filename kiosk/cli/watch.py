"""`face-kiosk watch`: the headless entrance (kiosk.checkin.headless) on the command line."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import TYPE_CHECKING, Any, TypeAlias

from kiosk.cli.common import add_liveness_option
from kiosk.config import config_from_args

if TYPE_CHECKING:
    from kiosk.config import Config
    from kiosk.events import KioskEvent
    from kiosk.events.status import Health
    from kiosk.gallery.api import GalleryStore
    from kiosk.recognition.preload import ModelPreload

    # What signal.signal takes and gives back (typeshed's signal._HANDLER).
    _Handler: TypeAlias = Callable[[int, FrameType | None], Any] | int | signal.Handlers | None

log = logging.getLogger("kiosk.watch")


def cmd_watch(args: argparse.Namespace) -> int:
    """Recognise and decide as the kiosk does, without a window; events as JSON lines."""
    from kiosk.recognition.preload import ModelPreload

    config = config_from_args(args)
    updates = {k: v for k, v in (("site", args.site), ("kiosk", args.kiosk)) if v}
    if updates:
        config = config.model_copy(update={"events": config.events.model_copy(update=updates)})
    # The models load on threads from here on (their sessions build without the GIL) while this
    # thread imports the rest and opens the gallery (its key, the retention purge, the event
    # bus): the two halves of the start-up overlap, and the first frame waits for both.
    models = ModelPreload(config)
    try:
        return _watch(args, config, models)
    finally:
        models.close()  # an error before the first frame leaves no loading thread behind


def _watch(args: argparse.Namespace, config: Config, models: ModelPreload) -> int:
    from kiosk.checkin.headless import HeadlessRunner, describe_event, parse_sources
    from kiosk.diagnostics.startup import process_age_s
    from kiosk.events import EventBus, KioskMetrics, StatusServer
    from kiosk.gallery.open import open_gallery
    from kiosk.gallery.retention import RetentionSchedule
    from kiosk.gallery.target import gallery_target

    sources = parse_sources(args.source, config.events.kiosk)
    lock = threading.Lock()

    ids_only = args.ids_only or to_the_journal()

    def on_first_frame() -> None:
        if args.verbose:
            print(f"face-kiosk watch: first frame analysed {process_age_s():.2f} s after start "
                  f"({time.process_time():.2f} s of CPU)", file=sys.stderr, flush=True)

    def on_event(event: KioskEvent) -> None:
        # The journal keeps lines for months, readable by the adm group: no names in it.
        line = event.to_json() if not ids_only else json.dumps(
            {**event.to_dict(), "person": None}, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        with lock:
            if args.jsonl:
                sys.stdout.write(line + "\n")
                sys.stdout.flush()
            if args.verbose or not args.jsonl:
                print(describe_event(event, names=not ids_only), file=sys.stderr if args.jsonl else sys.stdout,
                      flush=True)

    with open_gallery(gallery_target(args), create=False, encrypt=config.privacy.encrypt, actor="watch",
                      site=config.events.site, kiosk=config.events.kiosk,
                      encrypt_templates=config.gallery.encrypt_templates) as gallery:
        retention = RetentionSchedule(gallery, config.privacy)
        retention.run_if_due()  # before the templates are read: nobody past retention is recognised
        metrics = KioskMetrics()
        bus = EventBus.from_config(config.events, directory=gallery, metrics=metrics)
        runner = HeadlessRunner(config, gallery, models.pipeline(config), sources, on_event=on_event,
                                publish=bus.publish, metrics=metrics, retention=retention,
                                on_first_frame=on_first_frame, passive=models.passive(config))
        people = runner.cameras[0].live.gallery_people()
        metrics.set_gallery_size(people)
        server = None
        try:
            runner.open()
            if args.status_port is not None:
                server = StatusServer(lambda: with_gallery_status(runner.health(bus.status()), gallery), metrics,
                                      port=args.status_port).start()
            print(f"face-kiosk watch: {', '.join(f'{s.name}={s.spec}' for s in sources)}; gallery {people} people; "
                  f"model {runner.pipeline.model_version}; site {config.events.site}; "
                  f"liveness {config.liveness.mode}"
                  + (f"; status {server.url}" if server else ""), file=sys.stderr, flush=True)
            previous = _on_signals(runner.stop)
            try:
                frames = runner.run()
            finally:
                _restore(previous)
        finally:
            runner.close()
            delivered = bus.close(timeout=5.0)
            if server is not None:
                server.close()
    if not delivered:
        print("face-kiosk watch: some events could not be delivered before the end "
              "(see the log lines above)", file=sys.stderr)
    if args.verbose:
        print(f"face-kiosk watch: {frames} frames analysed; events: "
              f"{json.dumps([s.to_dict() for s in bus.status()])}", file=sys.stderr)
    return 0


def to_the_journal() -> bool:
    """Whether stdout or stderr is connected to the systemd journal (systemd says which stream
    in JOURNAL_STREAM as "device:inode"): then events carry ids, never names."""
    stream = os.environ.get("JOURNAL_STREAM", "")
    for fd in (1, 2):
        with contextlib.suppress(OSError, ValueError):
            st = os.fstat(fd)
            if stream == f"{st.st_dev}:{st.st_ino}":
                return True
    return False


def with_gallery_status(health: Health, gallery: GalleryStore) -> Health:
    """/health plus a shared gallery's state ("gallery": online, spooled, detail, local_copy: when
    the copy a kiosk started from offline was saved, else null). An offline gallery does not
    make the kiosk unhealthy: it keeps recognising and spools visits."""

    status = getattr(gallery, "status", None)
    if not callable(status):
        return health
    state = status()
    details = {**health.details, "gallery": {"online": state.online, "spooled": state.spooled,
                                             "detail": state.detail,
                                             "local_copy": getattr(state, "local_copy", "") or None}}
    return dataclasses.replace(health, details=details)


def _on_signals(stop: Callable[[], object]) -> dict[signal.Signals, _Handler]:
    def handler(signum: int, frame: FrameType | None) -> None:
        stop()

    previous: dict[signal.Signals, _Handler] = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        # Not the main thread (tests), or a platform without the signal: no handler then.
        with contextlib.suppress(ValueError, OSError):
            previous[sig] = signal.signal(sig, handler)
    return previous


def _restore(previous: dict[signal.Signals, _Handler]) -> None:
    for sig, old in previous.items():
        signal.signal(sig, old)


def add_parser(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:  # type: ignore[type-arg]
    """The `watch` parser."""
    p = sub.add_parser("watch", parents=[common], help="the kiosk without a window: events as JSON lines")
    p.add_argument("--source", action="append", required=True, metavar="[NAME=]SRC",
                   help="camera index, video file, image folder or stream URL (repeat for several cameras; "
                        "NAME is that source's kiosk id; a NAME of exit or exit-...: an exit camera, which "
                        "signs out whoever it recognises)")
    p.add_argument("--jsonl", action="store_true", help="one JSON object per event on stdout")
    p.add_argument("--ids-only", action="store_true",
                   help="events on stdout/stderr name people by id only (always so when they go to the systemd "
                        "journal)")
    p.add_argument("--site", help="site id in events and visits (default: the config's events.site)")
    p.add_argument("--kiosk", help="kiosk id in events and visits (default: the config's events.kiosk)")
    p.add_argument("--status-port", type=int, metavar="PORT",
                   help="serve /health and /metrics on 127.0.0.1:PORT")
    add_liveness_option(p)
    p.set_defaults(func=cmd_watch)

