"""``python -m fastmeta``: the command line."""

import sys

from fastmeta.cli import main

sys.exit(main())
