"""`python -m kiosk` is `face-kiosk`."""

import sys

from kiosk.cli import main

sys.exit(main())
