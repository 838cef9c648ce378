"""Compatibility package: the original project's `app.brain.core`."""

__path__ = __import__("pkgutil").extend_path(__path__, __name__)
