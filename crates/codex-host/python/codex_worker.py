"""CodexContinue Python plugin worker.

Runs one plugin class and answers line-delimited JSON-RPC 2.0 requests from the host:
one request per line on the inherited stdin, one response per line on the inherited
stdout. Before any plugin code runs, both protocol streams are moved to private file
descriptors: fd 0 becomes /dev/null and fd 1 (and `sys.stdout`) become stderr, so a
plugin's `print`, a C extension's writes or a subprocess can never corrupt the protocol.

Usage: python codex_worker.py <plugin file> <class name>

Methods: `describe` (metadata), `initialize` ({"config": ...}, the manifest's `[config]`),
`execute` ({"data": ...}), `shutdown`.
The error codes below are mirrored in the host's `python/protocol.rs`.
"""

import json
import os
import sys

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_INPUT = -32602
PLUGIN_ERROR = -32000
NOT_SERIALISABLE = -32001
LOAD_FAILED = -32002

TRACEBACK_TAIL = 3000
METADATA_KEYS = ("name", "description", "version", "author", "category")

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
    return error_line(rid, code, "%s: %s" % (kind, exc), data)


def load(plugin_path, class_name):
    """Imports the plugin file and instantiates its class; raises `LoadFailure`."""
    import importlib.util

    plugin_path = os.path.abspath(plugin_path)
    plugin_dir = os.path.dirname(plugin_path)
    # The shim folder stays first; the plugin's own folder comes next for its helpers.
    if plugin_dir not in sys.path:
        sys.path.insert(1, plugin_dir)
    module_name = os.path.splitext(os.path.basename(plugin_path))[0]
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
        raise LoadFailure(traceback_tail(exc, skip_frames=0)) from None

    cls = getattr(module, class_name, None)
    if cls is None:
        classes = sorted(n for n, v in vars(module).items() if isinstance(v, type) and v.__module__ == module_name)
        found = ", ".join(classes) if classes else "none"
        raise LoadFailure(
            "%s defines no class %s (the PascalCase of the file name); classes found: %s"
            % (os.path.basename(plugin_path), class_name, found)
        )
    from codexcontinue import PluginInterface

    if not isinstance(cls, type):
        raise LoadFailure("%s is not a class" % class_name)
    if not issubclass(cls, PluginInterface) and not callable(getattr(cls, "execute", None)):
        raise LoadFailure("%s neither subclasses PluginInterface nor has an execute method" % class_name)
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
        meta[key] = value if isinstance(value, str) else str(value)
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
    if isinstance(schema, dict):
        meta["input_schema"] = schema
    for key in list(meta):
        try:
            _encode(meta[key])
        except (TypeError, ValueError):
            print("codex worker: metadata %r is not JSON-serialisable; ignored" % key, file=sys.stderr)
            del meta[key]
    meta["pid"] = os.getpid()
    return meta


def call_hook(instance, name):
    hook = getattr(instance, name, None)
    if callable(hook):
        hook()


def takes_an_argument(hook):
    """Whether `hook` can be called with one positional argument."""
    import inspect

    try:
        inspect.signature(hook).bind(None)
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
        hook(config)
    else:
        hook()


def serve(proto_in, out_fd, instance, load_error):
    """The request loop: one line in, one line out, until the host closes stdin."""
    readline = proto_in.readline
    loads = json.loads
    execute = getattr(instance, "execute", None)
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
            try:
                result = execute(request["params"]["data"])
            except Exception as exc:
                send(out_fd, exception_line(rid, exc))
                continue
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
