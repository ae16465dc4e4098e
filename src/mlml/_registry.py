"""Name -> factory registries whose errors help (see STYLE.md, "Registries whose errors help")."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

from mlml.exceptions import MLMLError

T = TypeVar("T")


class Registry(Generic[T]):
    """A named collection of factories.

    >>> LOSSES = Registry("loss")
    >>> @LOSSES.register("bce")
    ... def bce(): ...
    >>> LOSSES.names()
    ['bce']
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str, obj: T | None = None) -> Any:
        """Register ``obj`` under ``name``; usable as a decorator when ``obj`` is omitted."""

        def add(item: T) -> T:
            if name in self._items:
                raise MLMLError(f"A {self.kind} named {name!r} is already registered.")
            self._items[name] = item
            return item

        return add if obj is None else add(obj)

    def get(self, name: str) -> T:
        """The object registered as ``name``; an unknown name raises, listing the valid ones."""
        try:
            return self._items[name]
        except KeyError:
            raise MLMLError(
                f"Unknown {self.kind} {name!r}. Valid names: {', '.join(sorted(self._items))}."
            ) from None

    def create(self, name: str, **kwargs: Any) -> Any:
        """Call the factory registered as ``name`` with ``kwargs``."""
        factory: Callable[..., Any] = self.get(name)  # type: ignore[assignment]
        return factory(**kwargs)

    def names(self) -> list[str]:
        """The registered names, sorted."""
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._items)
