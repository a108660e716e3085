"""Allow ``python -m serving_layer``."""

import sys

from serving_layer.cli import main

sys.exit(main())
