"""One small registry type, shared by metrics, conventions, methods and datasets.

An unknown name raises :class:`KeyError` whose message lists the close matches
(``difflib.get_close_matches``), so a typo such as ``qbaf`` tells the user to try ``qabf``.
Names are matched ignoring case, spaces, ``-`` and ``_`` when there is no exact match (``MSRS`` is
``msrs``), and a registry may hold aliases (a method's display name: ``SIDM-Fusion`` is ``sidm``).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class UnknownNameError(KeyError):
    """A name that is not registered. ``str()`` gives the plain message (KeyError would quote it)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class Registry(Generic[T]):
    """A name -> object mapping with helpful errors.

    >>> r = Registry[int]("colour")
    >>> r.add("red", 1)
    >>> r.get("red")
    1
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}
        self._aliases: dict[str, str] = {}  # normalised alias -> name

    def add(self, name: str, item: T) -> None:
        if name in self._items:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        self._items[name] = item

    def alias(self, alias: str, name: str) -> None:
        """Let ``alias`` (matched as :meth:`resolve` does) name ``name``; an alias already taken is kept."""
        if name not in self._items:
            raise ValueError(f"{self.kind} {name!r} is not registered")
        self._aliases.setdefault(normalise(alias), name)

    def resolve(self, name: str) -> str:
        """The registered name for ``name``: itself, its case/``-``/``_``-insensitive match, or its alias."""
        if name in self._items:
            return name
        key = normalise(str(name))
        matches = [n for n in self._items if normalise(n) == key]
        if len(matches) == 1:
            return matches[0]
        if key in self._aliases:
            return self._aliases[key]
        raise UnknownNameError(self.unknown_message(name))

    def get(self, name: str) -> T:
        return self._items[self.resolve(name)]

    def unknown_message(self, name: str) -> str:
        """``unknown <kind> 'name'; did you mean ...? (known: ...)``."""
        close = difflib.get_close_matches(str(name), list(self._items), n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        return f"unknown {self.kind} {name!r}{hint} (known: {', '.join(sorted(self._items))})"

    def replace(self, name: str, item: T) -> None:
        """Give the registered ``name`` a new ``item`` (e.g. a copy with one field changed)."""
        self._items[self.resolve(name)] = item

    def names(self) -> list[str]:
        return list(self._items)

    def values(self) -> list[T]:
        """The registered objects, in registration order."""
        return list(self._items.values())

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)


def normalise(name: str) -> str:
    """``"SIDM-Fusion"`` -> ``"sidmfusion"``: lower case, without spaces, ``-`` and ``_``."""
    return re.sub(r"[\s_\-]+", "", name.lower())
