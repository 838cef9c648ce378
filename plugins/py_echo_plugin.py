from codexcontinue import PluginInterface


class PyEchoPlugin(PluginInterface):
    """Returns its input as {"echo": input}: the reference's echo plugin, for bench/plugins.sh."""

    description = "Returns its input as {\"echo\": input}."
    category = "utility"
    example = "hello"

    def initialize(self):
        pass

    def execute(self, data):
        return {"echo": data}

    def shutdown(self):
        pass
