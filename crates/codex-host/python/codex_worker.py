"""CodexContinue Python plugin worker.

Runs one plugin and answers line-delimited JSON-RPC 2.0 requests from the host:
one request per line on the inherited stdin, one response per line on the inherited
stdout. Before any plugin code runs, both protocol streams are moved to private file
descriptors: fd 0 becomes /dev/null and fd 1 (and `sys.stdout`) become stderr, so a
plugin's `print`, a C extension's writes or a subprocess can never corrupt the protocol.

Usage: python codex_worker.py <plugin file> <class name>

Methods: `describe` (metadata), `initialize` ({"config": ...}, the manifest's `[config]`),
`execute` ({"data": ..., "context": {"session_id": ..., "traceparent": ...}}), `shutdown`.
During a call, `codexcontinue.context()` answers its context (the request's W3C
`traceparent` among it).
While `execute` runs, the plugin's progress reports (`self.progress(fraction, message)`,
`codexcontinue.report_progress`) go to the host as notifications, lines without an id:
`{"jsonrpc": "2.0", "method": "progress", "params": {"fraction": ..., "message": ...}}`.

The plugin is the class named the PascalCase of the file stem; else a module-level
instance (`plugin = ShellPlugin()`); else the one class in the file that subclasses a
plugin base class (`codexcontinue.PluginInterface`, `app.plugins.interface.CodexTool`,
`app.brain.core.base.CodexTool`). A plugin with `execute(data)` gets the decoded JSON;
one with only `run` (the original `app.brain.core.base.CodexTool` style) gets
`run(text, session_id)`, or `run(text)` when it takes one argument. Coroutines returned
by any of these are run to completion on the worker's own event loop.
The error codes below are mirrored in the host's `python/protocol.rs`.
"""

import json
import os
import sys
import threading
from itertools import islice

import codexcontinue

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_INPUT = -32602
PLUGIN_ERROR = -32000
NOT_SERIALISABLE = -32001
LOAD_FAILED = -32002

TRACEBACK_TAIL = 3000
METADATA_KEYS = ("name", "description", "version", "author", "category", "updated_at")
# Import names whose PyPI package is named differently, for the missing-package hint.
PACKAGE_OF_MODULE = {
    "PIL": "Pillow",
    "bs4": "beautifulsoup4",
    "cv2": "opencv-python",
    "dateutil": "python-dateutil",
    "docx": "python-docx",
    "dotenv": "python-dotenv",
    "fitz": "PyMuPDF",
    "git": "GitPython",
    "jwt": "PyJWT",
    "sklearn": "scikit-learn",
    "yaml": "PyYAML",
}

# How many modules were loaded when the plugin's import began (see `helper_files`).
MODULES_BEFORE_LOAD = 0

_encode = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode


class LoadFailure(Exception):
    """The plugin file could not be turned into a plugin instance."""


def take_protocol_streams():
    """Keeps the real stdin/stdout for the protocol and hands plugins harmless ones."""
    in_fd = os.dup(0)
    out_fd = os.dup(1)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return os.fdopen(in_fd, "rb", buffering=1 << 16), out_fd


def send(fd, data):
    written = os.write(fd, data)
    while written < len(data):
        data = data[written:]
        written = os.write(fd, data)


def progress_line(fraction, message):
    params = {}
    if fraction is not None and fraction == fraction:  # NaN is dropped.
        params["fraction"] = min(max(fraction, 0.0), 1.0)
    if message is not None:
        params["message"] = message
    return (_encode({"jsonrpc": "2.0", "method": "progress", "params": params}) + "\n").encode()


class ProgressChannel:
    """Sends progress notifications for the call in flight, from any thread of the plugin;
    closed before the call's response is written, so none follows it."""

    def __init__(self, out_fd):
        self.out_fd = out_fd
        self.lock = threading.Lock()
        self.open = False

    def __call__(self, fraction, message):
        try:
            line = progress_line(fraction, message)
        except (TypeError, ValueError):
            return
        with self.lock:
            if self.open:
                send(self.out_fd, line)

    def start(self):
        import codexcontinue

        with self.lock:
            self.open = True
        codexcontinue._progress_sink = self

    def stop(self):
        import codexcontinue

        codexcontinue._progress_sink = None
        with self.lock:
            self.open = False


def error_line(rid, code, message, data=None):
    error = {"code": code, "message": message}
    if data is not None:
        error["data"] = data
    return (_encode({"jsonrpc": "2.0", "id": rid, "error": error}) + "\n").encode()


def result_line(rid, result):
    return ('{"jsonrpc":"2.0","id":%d,"result":%s}\n' % (rid, _encode(result))).encode()


def traceback_tail(exc, skip_frames=1):
    """The exception's traceback without the worker's own frames, bounded in length."""
    import traceback

    tb = exc.__traceback__
    for _ in range(skip_frames):
        if tb is not None and tb.tb_next is not None:
            tb = tb.tb_next
    text = "".join(traceback.format_exception(type(exc), exc, tb))
    if len(text) > TRACEBACK_TAIL:
        text = "..." + text[-TRACEBACK_TAIL:]
    return text


def exception_line(rid, exc):
    """A plugin's exception as an error; `ValueError` (and `InvalidInput`) rejects the input."""
    kind = type(exc).__name__
    code = INVALID_INPUT if isinstance(exc, ValueError) else PLUGIN_ERROR
    data = {"type": kind, "traceback": traceback_tail(exc)}
    message = "%s: %s" % (kind, exc)
    hint = missing_package_hint(exc)
    if hint is not None:
        message = "%s (%s)" % (message, hint)
    return error_line(rid, code, message, data)


def missing_package_hint(exc):
    """For a `ModuleNotFoundError`, which package to install and how, for this very
    interpreter (the one the host runs the plugin's workers with); otherwise `None`."""
    name = getattr(exc, "name", None)
    if not isinstance(exc, ModuleNotFoundError) or not isinstance(name, str) or not name:
        return None
    top = name.partition(".")[0]
    if top == "app":
        # The shims provide only the plugin base classes of the original application.
        return (
            "the module '%s' is part of the original project's application, which CodexContinue "
            "does not provide (only app.plugins.interface and app.brain.core.base are there)" % name
        )
    if top != name:
        import importlib.util

        try:
            if importlib.util.find_spec(top) is not None:
                return None  # The package is there; what is missing is inside it.
        except Exception:
            return None
    package = PACKAGE_OF_MODULE.get(top, top)
    python = sys.executable or "python3"
    if " " in python:
        python = '"%s"' % python
    return "the Python package '%s' is not installed for %s, the interpreter the workers use; install it with: %s -m pip install %s" % (
        package,
        python,
        python,
        package,
    )


def load(plugin_path, class_name):
    """Imports the plugin file and instantiates its class; raises `LoadFailure`."""
    import importlib.util

    plugin_path = os.path.abspath(plugin_path)
    plugin_dir = os.path.dirname(plugin_path)
    # The shim folder stays first; the plugin's own folder comes next for its helpers.
    if plugin_dir not in sys.path:
        sys.path.insert(1, plugin_dir)
    module_name = os.path.splitext(os.path.basename(plugin_path))[0]
    global MODULES_BEFORE_LOAD
    MODULES_BEFORE_LOAD = len(sys.modules)
    try:
        spec = importlib.util.spec_from_file_location(module_name, plugin_path)
        if spec is None or spec.loader is None:
            raise LoadFailure("cannot import %s" % plugin_path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        spec.loader.exec_module(module)
    except LoadFailure:
        raise
    except BaseException as exc:  # SyntaxError, ImportError, even SystemExit at import.
        raise LoadFailure(import_failure(exc)) from None
    return find_plugin(module, module_name, class_name, os.path.basename(plugin_path))


def import_failure(exc):
    """The load error of a file whose import raised `exc`: the traceback, after a line
    saying which package to install when one is missing."""
    text = traceback_tail(exc, skip_frames=0)
    hint = missing_package_hint(exc)
    if hint is not None:
        text = "%s\n%s" % (hint[0].upper() + hint[1:], text)
    return text


def plugin_bases():
    """Every base class a plugin file may subclass."""
    from app.brain.core.base import CodexTool
    from codexcontinue import PluginInterface

    return (PluginInterface, CodexTool)


def has_entry_point(obj):
    return callable(getattr(obj, "execute", None)) or callable(getattr(obj, "run", None))


def find_plugin(module, module_name, class_name, file_name):
    """The plugin object of an imported module (see the module docstring for the order)."""
    bases = plugin_bases()
    members = vars(module)
    cls = members.get(class_name)
    if cls is not None:
        if not isinstance(cls, type):
            raise LoadFailure("%s is not a class" % class_name)
        if not issubclass(cls, bases) and not has_entry_point(cls):
            raise LoadFailure(
                "%s neither subclasses PluginInterface or CodexTool nor has an execute or run method" % class_name
            )
        # A file that also makes its own instance (`plugin = X()`) keeps that one.
        for value in members.values():
            if type(value) is cls:
                return value
        return instantiate(cls)

    instance = members.get("plugin")
    if (
        instance is not None
        and not isinstance(instance, (type, type(sys)))
        and (isinstance(instance, bases) or has_entry_point(instance))
    ):
        return instance
    instances = []
    for value in members.values():
        if isinstance(value, bases) and type(value).__module__ == module_name and all(value is not i for i in instances):
            instances.append(value)
    if len(instances) == 1:
        return instances[0]
    if len(instances) > 1:
        raise LoadFailure(
            "%s has no class %s (the PascalCase of the file name) and several module-level plugin instances "
            "(of %s); set `plugin = <the one to load>`"
            % (file_name, class_name, ", ".join(sorted({type(i).__name__ for i in instances})))
        )

    classes = sorted(
        (
            v
            for v in members.values()
            if isinstance(v, type)
            and v.__module__ == module_name
            and issubclass(v, bases)
            and not getattr(v, "__abstractmethods__", None)
        ),
        key=lambda c: c.__name__,
    )
    if len(classes) == 1:
        return instantiate(classes[0])
    if len(classes) > 1:
        raise LoadFailure(
            "%s has no class %s (the PascalCase of the file name) and several plugin classes (%s); "
            "rename the one to load %s, or set `plugin = <an instance>`"
            % (file_name, class_name, ", ".join(c.__name__ for c in classes), class_name)
        )
    defined = sorted(n for n, v in members.items() if isinstance(v, type) and v.__module__ == module_name)
    raise LoadFailure(
        "%s holds no plugin: looked for a class %s (the PascalCase of the file name), then a module-level "
        "instance (`plugin = %s()`), then a single class subclassing PluginInterface or CodexTool "
        "(from app.plugins.interface, app.brain.core.base or codexcontinue); classes found: %s"
        % (file_name, class_name, class_name, ", ".join(defined) if defined else "none")
    )


def instantiate(cls):
    try:
        return cls()
    except BaseException as exc:
        raise LoadFailure(traceback_tail(exc, skip_frames=0)) from None


def describe(instance):
    """Metadata from optional attributes; anything not JSON-serialisable is skipped."""
    meta = {}
    for key in METADATA_KEYS:
        value = getattr(instance, key, None)
        if value is None or callable(value):
            continue
        if key == "updated_at" and callable(getattr(value, "isoformat", None)):
            value = value.isoformat()
        meta[key] = value if isinstance(value, str) else str(value)
    requirements = getattr(instance, "requirements", None)
    if isinstance(requirements, str):
        requirements = [requirements]
    if isinstance(requirements, (list, tuple)):
        meta["requirements"] = [r if isinstance(r, str) else str(r) for r in requirements]
    if "description" not in meta:
        doc = type(instance).__dict__.get("__doc__")
        if isinstance(doc, str) and doc.strip():
            meta["description"] = doc.strip().split("\n\n")[0].replace("\n", " ")
    example = getattr(instance, "example", None)
    if example is not None and not callable(example):
        meta["example"] = example
    schema = getattr(instance, "parameters", None)
    if schema is None:
        schema = getattr(instance, "input_schema", None)
    if schema is None:
        try:
            schema = schema_from_hints(instance)
        except Exception as exc:  # A hint we cannot read costs the schema, not the plugin.
            print("codex worker: no input schema from the type hints: %s: %s" % (type(exc).__name__, exc), file=sys.stderr)
            schema = None
    if isinstance(schema, dict):
        meta["input_schema"] = schema
    for key in list(meta):
        try:
            _encode(meta[key])
        except (TypeError, ValueError):
            print("codex worker: metadata %r is not JSON-serialisable; ignored" % key, file=sys.stderr)
            del meta[key]
    meta["helpers"] = helper_files(instance)
    meta["pid"] = os.getpid()
    return meta


def helper_files(instance):
    """The source files of the modules the plugin imported from its own folder (and the
    folders below it), besides its own file: the host reloads the plugin when one changes."""
    module = sys.modules.get(type(instance).__module__)
    own = os.path.abspath(getattr(module, "__file__", "") or "")
    folder = os.path.dirname(own)
    if not folder:
        return []
    # Only the modules imported since the plugin's import began, newest first: `sys.modules`
    # keeps insertion order, and walking all of it would touch (and, in a forked worker,
    # copy) every module object the fork server shares.
    new = max(0, len(sys.modules) - MODULES_BEFORE_LOAD)
    imported = list(islice(reversed(sys.modules.values()), new))
    helpers = set()
    for loaded in imported:
        path = getattr(loaded, "__file__", None)
        if not isinstance(path, str):
            continue
        path = os.path.abspath(path)
        if path != own and path.endswith(".py") and path.startswith(folder + os.sep):
            helpers.add(path)
    return sorted(helpers)


def execute_parameter(instance):
    """The annotated parameter of the plugin's `execute(data: T)`: `(name, T)`, or `None`."""
    import inspect
    import typing

    execute = getattr(instance, "execute", None)
    if not callable(execute):
        return None
    try:
        parameters = list(inspect.signature(execute).parameters.values())
    except (TypeError, ValueError):
        return None
    if not parameters:
        return None
    hints = typing.get_type_hints(execute, include_extras=True)
    first = parameters[0]
    if first.name not in hints:
        return None
    return first.name, hints[first.name]


def schema_from_hints(instance):
    """The JSON Schema of `execute`'s input from its type hints: a `TypedDict` or dataclass
    parameter becomes an object (`Literal` an enum, `Annotated[T, "text"]` a description,
    `Optional` a choice with null), with descriptions from an `Args:` section of the
    docstring; `None` without a hint."""
    found = execute_parameter(instance)
    if found is None:
        return None
    schema = type_schema(found[1])
    docs = argument_docs(getattr(instance, "execute", None)) or {}
    docs.update({k: v for k, v in argument_docs(type(instance)).items() if k not in docs})
    for name, prop in (schema.get("properties") or {}).items():
        if name in docs and "description" not in prop:
            prop["description"] = docs[name]
    return schema


def argument_docs(obj):
    """`{name: text}` from a Google-style `Args:` (or `Parameters:`) section of a docstring."""
    import inspect

    doc = inspect.getdoc(obj) or ""
    docs, inside, indent = {}, False, None
    for line in doc.splitlines():
        stripped = line.strip()
        if stripped in ("Args:", "Arguments:", "Parameters:"):
            inside, indent = True, None
            continue
        if not inside:
            continue
        if not stripped:
            continue
        here = len(line) - len(line.lstrip())
        if indent is None:
            indent = here
        if here < indent or (here == 0 and stripped.endswith(":")):
            break
        if here == indent and ":" in stripped:
            name, _, text = stripped.partition(":")
            name = name.split("(")[0].strip()
            docs[name] = text.strip()
        elif docs:
            last = list(docs)[-1]
            docs[last] = (docs[last] + " " + stripped).strip()
    return docs


def type_schema(hint):
    """The JSON Schema of one type hint."""
    import dataclasses
    import typing

    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    wrappers = tuple(w for w in (getattr(typing, "Required", None), getattr(typing, "NotRequired", None)) if w)
    if origin is not None and origin in wrappers:
        return type_schema(args[0])
    if origin is typing.Annotated:
        schema = type_schema(args[0])
        texts = [a for a in args[1:] if isinstance(a, str)]
        if texts:
            schema["description"] = texts[0]
        return schema
    if origin is typing.Literal:
        values = list(args)
        schema = {"enum": values}
        kinds = {type(v) for v in values}
        if len(kinds) == 1:
            kind = type_schema(kinds.pop()).get("type")
            if kind:
                schema["type"] = kind
        return schema
    if origin is typing.Union or type(hint).__name__ == "UnionType":
        return {"anyOf": [type_schema(a) for a in args]}
    if origin in (list, tuple, set, frozenset) or hint in (list, tuple, set, frozenset):
        schema = {"type": "array"}
        if args and args[-1] is not Ellipsis:
            schema["items"] = type_schema(args[0])
        return schema
    if origin is dict or hint is dict:
        schema = {"type": "object"}
        if len(args) == 2:
            schema["additionalProperties"] = type_schema(args[1])
        return schema
    if hint is type(None):
        return {"type": "null"}
    if hint is typing.Any:
        return {}
    if typing.is_typeddict(hint):
        hints = typing.get_type_hints(hint, include_extras=True)
        return {
            "type": "object",
            "properties": {name: type_schema(h) for name, h in hints.items()},
            "required": sorted(getattr(hint, "__required_keys__", hints.keys())),
            "additionalProperties": False,
        }
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        hints = typing.get_type_hints(hint, include_extras=True)
        fields = dataclasses.fields(hint)
        return {
            "type": "object",
            "properties": {f.name: type_schema(hints.get(f.name, typing.Any)) for f in fields},
            "required": [
                f.name
                for f in fields
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
            ],
            "additionalProperties": False,
        }
    simple = {str: "string", bool: "boolean", int: "integer", float: "number"}
    if hint in simple:
        return {"type": simple[hint]}
    return {}


def input_adapter(instance):
    """What turns the call's JSON into `execute`'s argument: a dataclass parameter gets an
    instance built from the object's fields; anything else is passed as it came."""
    import dataclasses

    try:
        found = execute_parameter(instance)
    except Exception:
        return None
    if found is None:
        return None
    hint = found[1]
    import typing

    if typing.get_origin(hint) is typing.Annotated:
        hint = typing.get_args(hint)[0]
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        return lambda data: hint(**data) if isinstance(data, dict) else data
    return None


def call_hook(instance, name):
    hook = getattr(instance, name, None)
    if callable(hook):
        settle(hook())


_loop = None


def settle(result):
    """`result` itself, or what it resolves to when it is awaitable (an `async def` hook or
    entry point). One event loop serves the worker's whole life, so a plugin may keep
    loop-bound resources (clients, locks) from one call to the next."""
    if not hasattr(type(result), "__await__"):
        return result
    global _loop
    if _loop is None:
        import asyncio

        _loop = asyncio.new_event_loop()
        asyncio.set_event_loop(_loop)
    return _loop.run_until_complete(result)


def entry_point(instance):
    """How calls reach the plugin: `(execute, None)` for `execute(data)`, else `(None, run)`
    where `run(data, session_id)` adapts the plugin's `run` (the original
    `app.brain.core.base.CodexTool`)."""
    execute = getattr(instance, "execute", None)
    if callable(execute):
        return execute, None
    run = getattr(instance, "run", None)
    if not callable(run):
        return None, None
    if takes_arguments(run, 2):
        return None, lambda data, session_id: run(as_text(data), session_id)
    return None, lambda data, session_id: run(as_text(data))


def as_text(data):
    """A plain string as is; any other input as JSON text."""
    return data if isinstance(data, str) else _encode(data)


def takes_an_argument(hook):
    """Whether `hook` can be called with one positional argument."""
    return takes_arguments(hook, 1)


def takes_arguments(hook, count):
    """Whether `hook` can be called with `count` positional arguments."""
    import inspect

    try:
        inspect.signature(hook).bind(*([None] * count))
    except TypeError:
        return False
    except ValueError:  # No signature to inspect (some builtins): the original convention.
        return False
    return True


def initialize(instance, config):
    """Sets `self.config`, then calls `initialize(config)`, or `initialize()` as the original
    project's plugins define it."""
    instance.config = config
    hook = getattr(instance, "initialize", None)
    if not callable(hook):
        return
    if takes_an_argument(hook):
        settle(hook(config))
    else:
        settle(hook())


def serve(proto_in, out_fd, instance, load_error):
    """The request loop: one line in, one line out, until the host closes stdin."""
    readline = proto_in.readline
    loads = json.loads
    execute, run = entry_point(instance) if instance is not None else (None, None)
    adapt = input_adapter(instance) if execute is not None else None
    if adapt is not None:
        plain_execute = execute
        execute = lambda data: plain_execute(adapt(data))
    if load_error is None and execute is None and run is None:
        load_error = "%s has neither an execute nor a run method" % type(instance).__name__
    progress = ProgressChannel(out_fd)
    while True:
        line = readline()
        if not line:
            return
        try:
            request = loads(line)
            rid = request["id"]
            method = request["method"]
            if not isinstance(rid, int):
                raise ValueError("the id must be an integer")
        except Exception as exc:
            send(out_fd, error_line(None, PARSE_ERROR, "bad request: %s" % exc))
            continue
        if load_error is not None:
            send(out_fd, error_line(rid, LOAD_FAILED, load_error))
            continue
        if method == "execute":
            progress.start()
            try:
                params = request["params"]
                context = params.get("context") or {}
                codexcontinue.CURRENT_CONTEXT = context
                if execute is not None:
                    result = execute(params["data"])
                else:
                    result = run(params["data"], context.get("session_id", "default"))
                if hasattr(type(result), "__await__"):
                    result = settle(result)
            except Exception as exc:
                progress.stop()
                send(out_fd, exception_line(rid, exc))
                continue
            progress.stop()
            try:
                out = result_line(rid, result)
            except Exception as exc:
                message = "the result is not JSON-serialisable: %s: %s" % (type(exc).__name__, exc)
                out = error_line(rid, NOT_SERIALISABLE, message, {"type": type(result).__name__})
            send(out_fd, out)
        elif method == "initialize":
            try:
                params = request.get("params")
                config = params.get("config", {}) if isinstance(params, dict) else {}
                initialize(instance, config)
                out = result_line(rid, None)
            except Exception as exc:
                out = exception_line(rid, exc)
            send(out_fd, out)
        elif method == "shutdown":
            try:
                call_hook(instance, method)
                out = result_line(rid, None)
            except Exception as exc:
                out = exception_line(rid, exc)
            send(out_fd, out)
        elif method == "describe":
            try:
                out = result_line(rid, describe(instance))
            except Exception as exc:
                out = error_line(rid, LOAD_FAILED, traceback_tail(exc, skip_frames=0))
            send(out_fd, out)
        else:
            send(out_fd, error_line(rid, METHOD_NOT_FOUND, "unknown method %r" % (method,)))


def main(argv):
    if len(argv) != 3:
        print("usage: codex_worker.py <plugin file> <class name>", file=sys.stderr)
        return 2
    proto_in, out_fd = take_protocol_streams()
    instance, load_error = None, None
    try:
        instance = load(argv[1], argv[2])
    except LoadFailure as exc:
        load_error = str(exc)
    try:
        serve(proto_in, out_fd, instance, load_error)
    except BrokenPipeError:
        pass  # The host went away; nothing is left to answer.
    return 0


if __name__ == "__main__":
    code = main(sys.argv)
    # Leave promptly even if a plugin left non-daemon threads behind; run atexit first.
    import atexit

    atexit._run_exitfuncs()
    sys.stderr.flush()
    os._exit(code)
