"""``python -m skspecrep.cli``: the ``skspecrep`` command."""

import sys

from . import main

sys.exit(main())
