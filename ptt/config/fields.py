"""How a config field is documented and checked: one docstring per field, read from the source, is both the
field's documentation and its CLI help; small validators name the flag, the value and the fix; `Args`, the base of
every field group and of the job configs composed from groups."""

from __future__ import annotations

import ast
import dataclasses
import inspect
import textwrap
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, ClassVar

from ptt.errors import PttError


@dataclass(frozen=True)
class Args:
    """A group of config fields, or a job config composed of groups (a dataclass with several groups as bases).

    Each group checks only its own fields, in its own `check`, and lists its must-give fields in `REQUIRED`; a job's
    own group checks what spans groups. Construction runs every class's `REQUIRED` and `check` once, the most basic
    group first and the job's own group last (the reversed method resolution order), so no `__post_init__` is
    chained by hand and no field is changed after construction.
    """

    REQUIRED: ClassVar[tuple[str, ...]] = ()

    def __post_init__(self):
        for klass in reversed(type(self).__mro__):
            own = vars(klass)
            if own.get("REQUIRED"):
                required(self, *own["REQUIRED"])
            if "check" in own:
                own["check"](self)

    @classmethod
    def required_fields(cls) -> set[str]:
        return {name for klass in cls.__mro__ for name in vars(klass).get("REQUIRED", ())}

    @classmethod
    def of(cls, other, **changes):
        """A `cls` made of the fields `other` shares with it, with `changes` on top (one job's config turned into
        the config of a job it runs, e.g. a compare arm's training run or a scorer's settings)."""
        names = {f.name for f in dataclasses.fields(cls)}
        shared = {f.name: getattr(other, f.name) for f in dataclasses.fields(other) if f.name in names}
        return cls(**{**shared, **changes})

    @classmethod
    def from_dict(cls, d: dict[str, Any]):
        """`d` less the keys that are not fields of `cls` (a config written by a version with other fields)."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


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
