"""Entry point of the packaged app: the same command line as `face-kiosk` (bare = the window)."""

import sys

from ui.launcher import main

if __name__ == "__main__":
    sys.exit(main())
