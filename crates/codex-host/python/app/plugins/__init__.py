"""Compatibility package: the original project's `app.plugins`."""

__path__ = __import__("pkgutil").extend_path(__path__, __name__)
