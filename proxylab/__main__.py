"""``python -m proxylab ...`` is the same as the ``proxylab`` command."""

import sys

from proxylab.cli import main

sys.exit(main())
