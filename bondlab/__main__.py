"""`python -m bondlab` is the `bondlab` command."""

import sys

from bondlab.cli import main

sys.exit(main())
