"""A TFLite model in LiteRT (`ai-edge-litert`): loaded, run and freed without native log lines.

LiteRT writes INFO lines to fd 2 from C++ when it creates an interpreter ("Created TensorFlow
Lite XNNPACK delegate") and when it frees one ("DestroyAccelerator"); both are kept off stderr.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence

import numpy as np

from kiosk.errors import ModelError
from kiosk.vision.native_logs import native_stderr_quiet


class QuietInterpreter:
    """One LiteRT interpreter on `threads` CPU threads, for one thread of ours at a time."""

    def __init__(self, model: bytes, what: str, threads: int = 1) -> None:
        """`what` names the model in the error a bad file gives."""
        try:
            from ai_edge_litert.interpreter import Interpreter

            with native_stderr_quiet():
                self._interp = Interpreter(model_content=model, num_threads=max(1, threads))
                self._interp.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            raise ModelError(f"cannot load {what}: {exc}") from exc
        self._finalizer = weakref.finalize(self, _release_quietly, self.__dict__)
        first = self._interp.get_input_details()[0]
        self._input = first["index"]
        self.input_shape: tuple[int, ...] = tuple(int(v) for v in first["shape"])
        details = self._interp.get_output_details()
        self.outputs: dict[str, int] = {d["name"]: d["index"] for d in details}  # in the model's order
        self.output_shapes: dict[int, tuple[int, ...]] = {d["index"]: tuple(int(v) for v in d["shape"])
                                                          for d in details}

    def run(self, x: np.ndarray, outputs: Sequence[int]) -> list[np.ndarray]:
        """One invocation on input `x`; the `outputs` (tensor indices), copied."""
        self._interp.set_tensor(self._input, x)
        self._interp.invoke()
        return [self._interp.get_tensor(i) for i in outputs]


def _release_quietly(state: dict[str, object]) -> None:
    # Dropping the last reference frees the interpreter at once (nothing else holds it). No
    # gc.collect() here: run from a finalizer it would collect whatever else is garbage at
    # that moment, anywhere in the program, and raise its warnings there.
    with native_stderr_quiet():
        state.pop("_interp", None)
