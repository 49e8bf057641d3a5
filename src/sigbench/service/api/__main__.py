"""``python -m sigbench.service.api serve|keys ...`` (the same as ``sigbench-service serve|keys``)."""

import sys

from sigbench.service.api.commands import main

sys.exit(main())
