"""Param-group containers that note their own changes, so that `axon.jit` need not re-check
every group on every call.

An optimizer keeps its groups in a `ParamList` of `ParamGroup`s, each with its `"params"` (and
`"param_names"`) in a `ParamList` too. They are a plain list and dict in every way but one: each
method that changes them first calls `_structure.settings_changed()`, and so does assigning
`opt.param_groups`. A compiled step records the counter when it last
checked the groups (fixed settings unchanged, hyper-parameters converted), and while the counter
stays put it reuses that check. Containers of other types (a plain dict a user put into
`opt.param_groups` by hand) are checked on every call instead, as before.
"""

from __future__ import annotations

import functools

from axon import _structure

_DICT_CHANGES = (
    "__setitem__",
    "__delitem__",
    "__ior__",
    "clear",
    "pop",
    "popitem",
    "setdefault",
    "update",
)
_LIST_CHANGES = (
    "__setitem__",
    "__delitem__",
    "__iadd__",
    "__imul__",
    "append",
    "clear",
    "extend",
    "insert",
    "pop",
    "remove",
    "reverse",
    "sort",
)


def _noting_changes(cls: type, names: tuple[str, ...]) -> type:
    """Make each method `names` of `cls` (inherited from its base) note a settings change."""
    base = cls.__bases__[0]

    def noting(method):
        @functools.wraps(method)
        def changes(self, *args, **kwargs):
            _structure.settings_changed()
            return method(self, *args, **kwargs)

        return changes

    for name in names:
        setattr(cls, name, noting(getattr(base, name)))
    return cls


@functools.partial(_noting_changes, names=_DICT_CHANGES)
class ParamGroup(dict):
    """One param group: `{"params": [...], "lr": ..., ...}`, a dict that notes its changes."""

    __slots__ = ()


@functools.partial(_noting_changes, names=_LIST_CHANGES)
class ParamList(list):
    """A list that notes its changes: a group's `"params"`, and an optimizer's `param_groups`."""

    __slots__ = ()


def is_watched(groups) -> bool:
    """Whether every change to `groups` (an optimizer's `param_groups`) is noted."""
    return type(groups) is ParamList and all(map(_is_watched_group, groups))


def _is_watched_group(group) -> bool:
    lists = [group[key] for key in ("params", "param_names") if key in group]
    return type(group) is ParamGroup and all(type(v) is ParamList for v in lists)
