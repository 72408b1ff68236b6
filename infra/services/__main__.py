"""``python -m infra.services up|down|status [postgres|kafka]``: see :func:`infra.services.main`."""

import sys

from infra.services import main

sys.exit(main())
