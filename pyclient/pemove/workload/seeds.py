"""The seed of every random choice a workload makes: given, from the environment, or new.

A run prints its seed; passing it back (``--seed N``, or ``PEMOVE_SEED=N`` for
the guest tests) repeats the run's choices.
"""

from __future__ import annotations

import os
import random
import sys
from collections.abc import Mapping

__all__ = ["ENV", "announced", "choose", "from_env"]

ENV = "PEMOVE_SEED"


def choose(given: int | None = None) -> int:
    """``given``, or a new random seed (31 bits) when it is None."""
    return given if given is not None else random.SystemRandom().randrange(1 << 31)


def announced(given: int | None, prog: str) -> int:
    """:func:`choose`, and say on stderr which seed ``prog`` uses."""
    seed = choose(given)
    print(f"{prog}: seed {seed}", file=sys.stderr)
    return seed


def from_env(environ: Mapping[str, str] = os.environ) -> int:
    """``$PEMOVE_SEED`` if it is set, else a new seed."""
    value = environ.get(ENV)
    return int(value) if value else choose()
