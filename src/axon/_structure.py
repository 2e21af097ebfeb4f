"""A global counter of structural changes to modules and parameters.

It is bumped whenever something that a compiled program depends on statically changes: a
sub-module, Parameter or buffer is assigned or removed, a hyper-parameter or the training mode
changes, a Parameter starts or stops requiring grad. `axon.jit` keys its cache of flattened state
on it, so a stale flattening is never used and an unchanged model costs no Python walk per call.
"""

from __future__ import annotations

import itertools

_counter = itertools.count(1)
version = 0


def bump() -> None:
    global version
    version = next(_counter)
