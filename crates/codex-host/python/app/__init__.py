"""Compatibility package: lets plugins written for the original project import `app.plugins.interface`."""

# Other `app` packages on sys.path (a project's own) stay importable beside this one.
__path__ = __import__("pkgutil").extend_path(__path__, __name__)
