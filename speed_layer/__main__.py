"""Allow ``python -m speed_layer``."""

import sys

from speed_layer.cli import main

sys.exit(main())
