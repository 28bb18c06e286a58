"""``python -m feeds`` is the ``feedmill`` command (for environments without the script)."""

import sys

from feeds.cli import main

sys.exit(main())
