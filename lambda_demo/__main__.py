"""Allow ``python -m lambda_demo``."""

import sys

from lambda_demo.cli import main

sys.exit(main())
