"""Global counters of changes that compiled steps depend on.

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
    global version, changes
    version = changes = next(_counter)


# Bumped whenever an optimizer's param groups change: a hyper-parameter is set, a group or a
# group's params list is added, replaced or edited (see axon/optim/_groups.py). A compiled step
# that saw no bump since its last call skips re-checking the groups it baked in.
settings = 0


def settings_changed() -> None:
    global settings, changes
    settings = changes = next(_counter)


# Bumped by every change that `axon.jit`'s shortest way into a compiled step would otherwise
# have to look for: the two above, and a slot that a StateCell holds being written or lent
# (see `StateCell`), and the random stream's key being replaced (axon/_random.py). A compiled
# step whose state was settled at this count and sees it unchanged runs with no check but its
# arguments' (see `axon.transforms.jit`).
changes = 0


def changed() -> None:
    global changes
    changes = next(_counter)
