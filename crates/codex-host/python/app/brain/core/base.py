"""The original project's `app.brain.core.base.CodexTool`, which later plugins subclass.

Such a plugin often defines `run` only, sync or async, and its metadata as class
attributes. The host calls `run(prompt, session_id)` with the call's input as text (a
plain string as is, anything else as JSON) and the call's session id; a `run(prompt)`
that takes one argument gets the text alone. A plugin that also defines `execute(data)`
is called through `execute` instead, with the input as decoded JSON.
"""

from abc import ABC, abstractmethod

__all__ = ["CodexTool"]


class CodexTool(ABC):
    """A tool: `run(prompt, session_id)` answers one call."""

    name: str
    description: str

    @abstractmethod
    async def run(self, prompt: str, session_id: str) -> str: ...

    def progress(self, fraction=None, message=None) -> None:
        """Reports how far the running call has got (see `codexcontinue.report_progress`)."""
        from codexcontinue import report_progress

        report_progress(fraction, message)
