"""``python -m pemove.workload.scenarios``: see :mod:`.cli`."""

from __future__ import annotations

import sys

from pemove.workload.scenarios.cli import main

sys.exit(main())
