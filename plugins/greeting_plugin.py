from app.plugins.interface import PluginInterface


class GreetingPlugin(PluginInterface):
    def initialize(self):
        self.greeting = "Hello"

    def execute(self, data):
        if isinstance(data, dict):
            data = data.get("name", "")
        name = str(data).strip() or "world"
        return f"{self.greeting}, {name}!"

    def shutdown(self):
        pass
