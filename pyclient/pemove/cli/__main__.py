"""``python -m pemove.cli``: the same as the ``pemove`` command."""

from __future__ import annotations

import sys

from pemove.cli import main

sys.exit(main())
