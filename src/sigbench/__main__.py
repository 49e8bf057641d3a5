"""``python -m sigbench COMMAND ...``: the same as the ``sigbench`` command."""

import sys

from sigbench.cli.commands import main

sys.exit(main())
