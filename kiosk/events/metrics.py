"""Every Prometheus metric of the kiosk, defined in one place, on a registry of its own.

Its own `CollectorRegistry` (never the process-wide default) so that several kiosks, or
several tests, in one process do not collide. Updates from the recognition thread are a dict
lookup plus a locked add: labelled children are cached so `labels()` is not parsed per frame.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

# Per-frame processing time in milliseconds: 30 fps leaves 33 ms a frame.
FRAME_MS_BUCKETS = (5.0, 10.0, 20.0, 33.0, 50.0, 75.0, 100.0, 150.0, 250.0, 500.0, 1000.0, 2500.0)
DELIVERY_OUTCOMES = ("delivered", "retried", "failed")


class KioskMetrics:
    """The metrics, and cheap ways to update them.

    Labels: `source` is the kiosk id for events (KioskEvent.kiosk) and the video source name
    for frames (use the kiosk id there too when one kiosk has one camera); `sink` is the
    sink's name (`SinkStatus.name`).
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        r = self.registry
        self.events = Counter("face_kiosk_events", "Recognition events published, by type and source",
                              ["event", "source"], registry=r)
        self.deliveries = Counter("face_kiosk_event_deliveries",
                                  "Delivery attempts by sink and outcome (delivered, retried, failed)",
                                  ["sink", "outcome"], registry=r)
        self.dropped = Counter("face_kiosk_events_dropped",
                               "Events dropped by a sink (queue full, or left at shutdown)",
                               ["sink"], registry=r)
        self.frames = Counter("face_kiosk_frames", "Frames processed, by source", ["source"],
                              registry=r)
        self.frame_ms = Histogram("face_kiosk_frame_processing_milliseconds",
                                  "Processing time per frame (detect, embed, match), in ms",
                                  ["source"], buckets=FRAME_MS_BUCKETS, registry=r)
        self.queue_length = Gauge("face_kiosk_event_queue_length",
                                  "Events waiting in a sink's queue", ["sink"], registry=r)
        self.gallery_size = Gauge("face_kiosk_gallery_size", "People enrolled in the gallery",
                                  registry=r)
        self._frame_children: dict[str, tuple[Counter, Histogram]] = {}
        self._event_children: dict[tuple[str, str], Counter] = {}

    def frame(self, source: str, ms: float) -> None:
        """One frame processed on `source` in `ms` milliseconds (call from the recognition loop)."""
        children = self._frame_children.get(source)
        if children is None:
            # Racing threads may both create it: labels() returns the same child, no harm.
            children = (self.frames.labels(source=source), self.frame_ms.labels(source=source))
            self._frame_children[source] = children
        children[0].inc()
        children[1].observe(ms)

    def event(self, event: str, source: str) -> None:
        """One event of type `event` published by `source` (the bus calls this)."""
        child = self._event_children.get((event, source))
        if child is None:
            child = self.events.labels(event=event, source=source)
            self._event_children[(event, source)] = child
        child.inc()

    def delivery(self, sink: str, outcome: str) -> None:
        """One delivery attempt's outcome (the bus calls this, from the sink's thread)."""
        self.deliveries.labels(sink=sink, outcome=outcome).inc()

    def drop(self, sink: str, count: int = 1) -> None:
        """`count` events dropped by `sink`."""
        self.dropped.labels(sink=sink).inc(count)

    def watch_queue(self, sink: str, length: Callable[[], float]) -> None:
        """Read `sink`'s queue length when scraped (nothing to do on the hot path)."""
        self.queue_length.labels(sink=sink).set_function(length)
        # Create the series now, so a scrape shows 0 before anything went wrong.
        self.dropped.labels(sink=sink)
        for outcome in DELIVERY_OUTCOMES:
            self.deliveries.labels(sink=sink, outcome=outcome)

    def set_gallery_size(self, people: int) -> None:
        """The gallery now holds `people` people (call after loading or enrolling)."""
        self.gallery_size.set(people)

    def exposition(self) -> bytes:
        """The Prometheus text format of this registry."""
        return generate_latest(self.registry)

    content_type = CONTENT_TYPE_LATEST
