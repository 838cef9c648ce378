"""The original project's `PluginInterface`, re-exported from `codexcontinue`."""

from codexcontinue import InvalidInput, PluginInterface

__all__ = ["PluginInterface", "InvalidInput"]
