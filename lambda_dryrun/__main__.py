"""Allow ``python -m lambda_dryrun``."""

import sys

from lambda_dryrun.cli import main

sys.exit(main())
