"""The face pipelines of one `face-kiosk` command: made when a command needs one (photos only),
closed when the command ends (entry.main), so MediaPipe's threads end with it."""

from __future__ import annotations

import contextlib
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the commands import the models' code when they run
    from kiosk.config import Config
    from kiosk.vision.pipeline import FacePipeline

_pipelines: list[FacePipeline] = []  # the command's pipelines, closed when it ends (close_pipelines)


def command_pipeline(config: Config) -> FacePipeline:
    """A still-photo pipeline for this command (a note on stderr when its weights are for
    non-commercial use only); closed by `close_pipelines`."""
    from kiosk.vision.pipeline import FacePipeline

    pipeline = FacePipeline(config.vision, still=True)  # the CLI only handles photos
    _pipelines.append(pipeline)
    if any("non-commercial" in lic for lic in pipeline.embedding.licences):
        print("note: the mbf model's weights are licensed for non-commercial research only", file=sys.stderr)
    return pipeline


def close_pipelines() -> None:
    """Release the command's models now (MediaPipe's threads end with them), not whenever the
    garbage collector gets to them."""
    while _pipelines:
        close = getattr(_pipelines.pop().detector, "close", None)
        if close is not None:
            with contextlib.suppress(Exception):
                close()

