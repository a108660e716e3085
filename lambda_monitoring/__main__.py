"""Allow ``python -m lambda_monitoring``."""

import sys

from lambda_monitoring.cli import main

sys.exit(main())
