"""PyInstaller runtime hook: a stand-in for matplotlib, which the bundle leaves out.

`mediapipe.tasks.python.vision` imports `matplotlib.pyplot` at import time for its drawing
helpers; face-kiosk never calls them. This module object satisfies that import, and any
real use fails loudly with an ImportError naming what was asked for.
"""

import sys
import types


class _NotBundled(types.ModuleType):
    def __getattr__(self, name):
        if name.startswith("__"):  # hasattr(), copy, inspect... expect AttributeError here
            raise AttributeError(name)
        raise ImportError(f"matplotlib is not bundled with face-kiosk ({self.__name__}.{name} was used)")


if "matplotlib" not in sys.modules:
    _mpl = _NotBundled("matplotlib")
    _mpl.__path__ = []  # a package, so `import matplotlib.pyplot` resolves below
    _mpl.pyplot = _NotBundled("matplotlib.pyplot")
    sys.modules["matplotlib"] = _mpl
    sys.modules["matplotlib.pyplot"] = _mpl.pyplot
