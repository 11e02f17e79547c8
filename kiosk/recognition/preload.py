"""The live loop's models, loading on threads from the first moments of the process.

`watch` and the GUI start loading as soon as they know the config, before they import the rest
of the app, open the gallery or build the window: the networks (the embedder, the most, and
the passive liveness models; OpenCV's DNN engine) build without holding the GIL, so on two cores they load while the
main thread imports and opens. Whoever needs the models then takes them (`pipeline`, `passive`),
waiting only for what is not ready yet; a config that changed in between gets its own models.
A model that fails to load fails there, with the loader's own message.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING

from kiosk.config import Config, VisionConfig

if TYPE_CHECKING:  # imported on the loading thread: the caller's thread goes on meanwhile
    from kiosk.liveness.passive import PassiveScorer
    from kiosk.vision.pipeline import FacePipeline


def _load_pipeline(vision: VisionConfig) -> FacePipeline:
    from kiosk.vision.pipeline import FacePipeline

    return FacePipeline(vision)


def _load_passive() -> PassiveScorer:
    from kiosk.liveness.passive import PassiveScorer

    return PassiveScorer()


class ModelPreload:
    """The live pipeline of `config.vision` and, unless liveness is off, the passive liveness
    model, loading on two threads from now on. Each is handed out once."""

    def __init__(self, config: Config) -> None:
        self.vision = config.vision
        self._loader = ThreadPoolExecutor(2, thread_name_prefix="face-kiosk-models")
        self._pipeline: Future[FacePipeline] | None = self._loader.submit(_load_pipeline, config.vision)
        self._passive: Future[PassiveScorer] | None = (
            self._loader.submit(_load_passive) if config.liveness.mode != "off" else None)
        self._loader.shutdown(wait=False)

    def pipeline(self, config: Config) -> FacePipeline:
        """The live pipeline for `config`: the preloaded one (once it is ready) when the vision
        settings are those it was loaded for and it was not taken yet, else a new one."""
        future, self._pipeline = self._pipeline, None
        if future is not None and config.vision == self.vision:
            return future.result()
        return _load_pipeline(config.vision)

    def passive(self, config: Config) -> PassiveScorer | None:
        """The preloaded passive liveness model (once it is ready), or None when liveness is off
        or it was taken already: the liveness check then loads its own on first use."""
        future, self._passive = self._passive, None
        if future is None or config.liveness.mode == "off":
            return None
        return future.result()

    def close(self) -> None:
        """Wait for the loading threads to end (nothing is left running when the app gives up
        before it took the models) and drop what was not taken."""
        self._loader.shutdown(wait=True)
        self._pipeline = self._passive = None
