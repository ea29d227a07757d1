"""`python -m governance ...` runs the same commands as `meshctl` (used for base-ref trees)."""

import sys

from platform_core.cli import main

sys.exit(main())
