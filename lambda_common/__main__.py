"""Allow ``python -m lambda_common env``."""

import sys

from lambda_common.cli import main

sys.exit(main())
