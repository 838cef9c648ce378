"""The original project's `app.plugins.interface`: `PluginInterface` and its `CodexTool`.

`PluginInterface` is the same class as `codexcontinue.PluginInterface`.
"""

from codexcontinue import InvalidInput, PluginInterface

__all__ = ["PluginInterface", "CodexTool", "InvalidInput"]


class CodexTool(PluginInterface):
    """A `PluginInterface` with a `name`, a `description` and `run(input_text)`.

    The host calls `execute(data)`; `run` is kept for code that calls it directly.
    """

    name: str
    description: str

    def run(self, input_text: str) -> dict:
        return self.execute(input_text)
