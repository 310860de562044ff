"""`python -m bondlab` is the `bondlab` command."""

import sys

from bondlab.cli.main import main

sys.exit(main())
