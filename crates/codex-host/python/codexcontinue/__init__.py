"""The CodexContinue plugin interface, as Python plugins import it.

`from codexcontinue import PluginInterface` and the original project's
`from app.plugins.interface import PluginInterface` name the same class.
"""

from abc import ABC, abstractmethod
from typing import Any

__all__ = ["PluginInterface", "InvalidInput", "context", "report_progress"]

# Set by the worker for the length of one `execute` call: sends one progress report to the
# host. Outside a call (and outside a worker) reports go nowhere.
_progress_sink = None


def report_progress(fraction=None, message=None):
    """Reports how far the running call has got: `fraction` done (0.0 to 1.0) and/or a
    `message`. Callers of the plugin see it as a `progress` event while the call runs."""
    sink = _progress_sink
    if sink is None:
        return
    if fraction is not None:
        fraction = float(fraction)
    if message is not None:
        message = str(message)
    sink(fraction, message)


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

    def progress(self, fraction: "float | None" = None, message: "str | None" = None) -> None:
        """Reports how far the running `execute` has got (see `report_progress`)."""
        report_progress(fraction, message)


class InvalidInput(ValueError):
    """Raise from `execute` to reject `data`; the caller sees an invalid-input error."""
