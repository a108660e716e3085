"""``python -m batch_layer.lake``: see :mod:`batch_layer.lake.cli`."""

import sys

from batch_layer.lake.cli import main

sys.exit(main())
