"""``python -m lambdakit``: the same as the ``lambdakit`` command."""

import sys

from lambdakit.cli import main

sys.exit(main())
