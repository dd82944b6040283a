"""`python -m acci_gen` runs the command line."""

import sys

from acci_gen.cli import main

sys.exit(main())
