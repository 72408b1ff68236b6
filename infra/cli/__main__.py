"""`python -m infra.cli …`: the same as the `crm` script."""

import sys

from infra.cli import main

sys.exit(main())
