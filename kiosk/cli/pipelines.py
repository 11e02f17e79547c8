"""The face pipelines of one `face-kiosk` command: made when a command needs one (photos only),
once per command (10,000 images in one call load the models once)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the commands import the models' code when they run
    from kiosk.config import Config
    from kiosk.vision.pipeline import FacePipeline

_pipelines: list[FacePipeline] = []  # the command's pipelines, dropped when it ends (close_pipelines)


def command_pipeline(config: Config) -> FacePipeline:
    """A still-photo pipeline for this command (a note on stderr when its weights are for
    non-commercial use only)."""
    from kiosk.vision.pipeline import FacePipeline

    pipeline = FacePipeline(config.vision, still=True)  # the CLI only handles photos
    _pipelines.append(pipeline)
    if any("non-commercial" in lic for lic in pipeline.embedding.licences):
        print("note: the mbf model's weights are licensed for non-commercial research only", file=sys.stderr)
    return pipeline


def close_pipelines() -> None:
    """Drop the command's models when it ends (LiteRT and OpenCV free them with the last
    reference; nothing runs on threads of their own any more)."""
    _pipelines.clear()
