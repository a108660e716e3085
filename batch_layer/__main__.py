"""Allow ``python -m batch_layer``."""

import sys

from batch_layer.cli import main

sys.exit(main())
