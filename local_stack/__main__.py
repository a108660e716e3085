"""Allow ``python -m local_stack``."""

import sys

from local_stack.cli import main

sys.exit(main())
