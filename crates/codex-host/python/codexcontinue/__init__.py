"""The CodexContinue plugin interface, as Python plugins import it.

`from codexcontinue import PluginInterface` and the original project's
`from app.plugins.interface import PluginInterface` name the same class.
"""

from abc import ABC, abstractmethod
from typing import Any

__all__ = ["PluginInterface", "InvalidInput", "context"]

# Set by the worker before each call.
CURRENT_CONTEXT: dict = {}


def context() -> dict:
    """The context of the call in progress: `session_id`, and `traceparent` (the W3C
    trace context of the request it serves) when there is one. Pass `traceparent` on to
    services the plugin calls so their work joins the same trace."""
    return dict(CURRENT_CONTEXT)


class PluginInterface(ABC):
    """A plugin: `initialize()` once, `execute(data)` per call, `shutdown()` once.

    Before `initialize` runs, `self.config` holds the manifest's `[config]` table (a dict,
    empty without one); an `initialize(self, config)` that takes an argument gets it too.

    Optional class attributes become the plugin's metadata: `name`, `description`,
    `version`, `author`, `category`, `example` and `parameters` (a JSON Schema of `data`).
    """

    @abstractmethod
    def initialize(self) -> None: ...

    @abstractmethod
    def execute(self, data: Any) -> Any: ...

    @abstractmethod
    def shutdown(self) -> None: ...


class InvalidInput(ValueError):
    """Raise from `execute` to reject `data`; the caller sees an invalid-input error."""
