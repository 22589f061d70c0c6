"""One generic Registry class with one instance per kind of component (models, readers, ...)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from medrnn.errors import ConfigError

T = TypeVar("T")


class Registry(Generic[T]):
    """Name -> factory mapping; registering a taken name is an error, never a silent overwrite."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        def decorator(obj: T) -> T:
            if name in self._items:
                raise ConfigError(f"{self.kind} {name!r} is already registered")
            self._items[name] = obj
            return obj

        return decorator

    def get(self, name: str) -> T:
        if name not in self._items:
            raise ConfigError(f"unknown {self.kind} {name!r}; available: {', '.join(sorted(self._items))}")
        return self._items[name]

    def names(self) -> list[str]:
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items


MODELS: Registry = Registry("model")
READERS: Registry = Registry("reader")
TASKS: Registry = Registry("task")
