"""`python -m iin.explore <run_dir>`: the same as `iin-explore`."""
import sys

from .cli import main

sys.exit(main())
