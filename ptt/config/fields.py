"""How a config field is documented and checked: one docstring per field, read from the source, is both the
field's documentation and its CLI help; small validators name the flag, the value and the fix."""

from __future__ import annotations

import ast
import dataclasses
import inspect
import textwrap
from functools import lru_cache

from ptt.errors import PttError


@lru_cache(maxsize=None)
def field_docs(cls) -> dict[str, str]:
    """{field name: the string literal right below its annotation}, subclasses' docstrings first."""
    docs: dict[str, str] = {}
    for klass in cls.__mro__:
        if not dataclasses.is_dataclass(klass):
            continue
        body = ast.parse(textwrap.dedent(inspect.getsource(klass))).body[0].body
        for node, after in zip(body, body[1:]):
            if isinstance(node, ast.AnnAssign) and isinstance(after, ast.Expr) and \
                    isinstance(after.value, ast.Constant) and isinstance(after.value.value, str):
                docs.setdefault(node.target.id, " ".join(after.value.value.split()))
    return docs


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def positive(cfg, *names: str) -> None:
    for name in names:
        value = getattr(cfg, name)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value <= 0):
            raise PttError(f"{flag(name)} {value}: must be a positive integer")


def choice(name: str, value, allowed) -> None:
    if value not in allowed:
        raise PttError(f"{flag(name)} {value}: unknown; choose one of {', '.join(map(str, allowed))}")


def required(cfg, *names: str) -> None:
    for name in names:
        if getattr(cfg, name) in (None, "", ()):
            raise PttError(f"{flag(name)}: required; {field_docs(type(cfg)).get(name, '')}".rstrip("; "))


def comma_list(value: str | None) -> list[str]:
    """`a,b , c` -> [a, b, c] (empty entries dropped)."""
    return [v.strip() for v in (value or "").split(",") if v.strip()]
