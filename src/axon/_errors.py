"""One place that builds axon's user-facing error messages.

Every message names the module (and its path in the model when known), what was expected,
what was received and, where there is one, the likely fix:

    axon.nn.Linear (model.fc1): expected input of shape (*, 784), got (32, 100).
"""

from __future__ import annotations


def describe(obj) -> str:
    """`axon.nn.Linear (fc1)` for a module that knows its path, `axon.nn.Linear` otherwise."""
    if isinstance(obj, str):
        return obj
    name = f"axon.nn.{type(obj).__name__}"
    path = getattr(obj, "_axon_path", None)
    return f"{name} ({path})" if path else name


def message(where, problem: str, fix: str | None = None) -> str:
    text = f"{describe(where)}: {problem}"
    if fix:
        text = f"{text.rstrip('.')}. {fix}"
    return text


def value_error(where, problem: str, fix: str | None = None) -> ValueError:
    return ValueError(message(where, problem, fix))


def type_error(where, problem: str, fix: str | None = None) -> TypeError:
    return TypeError(message(where, problem, fix))


def shape_str(shape) -> str:
    return "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"
