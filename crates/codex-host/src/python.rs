//! Python plugins: `<name>_plugin.py` run in worker processes.
