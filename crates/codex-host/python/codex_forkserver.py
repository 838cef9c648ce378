"""CodexContinue Python fork server.

One per interpreter. It imports the worker runtime (and the standard modules a worker
uses) once, freezes those objects out of the garbage collector's reach (`gc.freeze()`),
and then forks a worker for each plugin the host asks for. Forked workers share the
server's pages copy-on-write, so a worker costs the pages its own plugin touches rather
than a whole interpreter; each still runs alone in its own process.

Usage: python codex_forkserver.py, with fd 0 a SOCK_SEQPACKET Unix socket to the host.
Every message is one datagram holding one JSON object:

    host   -> server  {"id": n, "plugin": <file>, "class": <name>}, with three file
                      descriptors attached: the worker's stdin, stdout and stderr
    server -> host    {"ready": true, "pid": <own pid>}, once, when it can fork
                      {"id": n, "pid": <worker pid>}, with the worker's pidfd attached
                      {"id": n, "error": <text>}
                      {"exited": <pid>, "status": <raw wait status>}, for each worker
                      it forked, when that worker ends

The host kills workers through their pidfds and learns of their end from the
`exited` messages (or, once this server is gone, from the pidfds alone). The server
leaves when the host closes its end of the socket; workers it forked keep running.
"""

import gc
import json
import os
import selectors
import signal
import socket
import sys

import codex_worker

# What workers import as they load and run, imported once here so they share it.
import asyncio  # noqa: F401
import atexit
import dataclasses  # noqa: F401
import importlib.util  # noqa: F401
import inspect  # noqa: F401
import traceback
import typing  # noqa: F401

MAX_MESSAGE = 64 * 1024

# A plugin of our own, loaded, described and run once by the server itself, so the caches
# every worker fills on its way (import machinery, `inspect`, `typing`, `re`, the encoder)
# are filled once here and shared, instead of being written anew in each worker.
WARM_UP_PLUGIN = '''
import typing
from codexcontinue import PluginInterface

GREETING = "warm"
LIMITS = {"size": 1}


def helper(value):
    return value


class WarmUpPlugin(PluginInterface):
    """Warms the fork server up."""

    def initialize(self):
        self.ready = True

    def shutdown(self):
        pass

    def execute(self, data: typing.Dict[str, typing.Any]) -> typing.Any:
        return {"echo": data}
'''


def warm_up():
    import shutil
    import tempfile

    import app.brain.core.base  # noqa: F401
    import app.plugins.interface  # noqa: F401

    folder = tempfile.mkdtemp(prefix="codexcontinue-warm-up-")
    path = os.path.join(folder, "warm_up_plugin.py")
    try:
        with open(path, "w") as f:
            f.write(WARM_UP_PLUGIN)
        instance = codex_worker.load(path, "WarmUpPlugin")
        # And the search a file whose class is not named after it takes: the `isinstance`
        # checks against the plugin base classes fill their ABC caches here, once.
        module = sys.modules["warm_up_plugin"]
        codex_worker.find_plugin(module, "warm_up_plugin", "OtherPlugin", "warm_up_plugin.py")
        codex_worker.describe(instance)
        codex_worker.initialize(instance, {})
        with open(os.devnull, "wb") as null:
            progress = codex_worker.ProgressChannel(null.fileno())
            progress.start()
            progress(0.5, "warm")
            progress.stop()
        execute, _ = codex_worker.entry_point(instance)
        adapt = codex_worker.input_adapter(instance)
        data = json.loads('{"text": "warm"}')
        codex_worker.result_line(1, execute(adapt(data) if adapt else data))
        try:
            raise ValueError("warm")
        except ValueError as exc:
            codex_worker.exception_line(1, exc)
    except Exception:
        # A warm-up that fails costs memory, not workers: say so and go on.
        traceback.print_exc()
    finally:
        sys.modules.pop("warm_up_plugin", None)
        if folder in sys.path:
            sys.path.remove(folder)
        sys.path_importer_cache.pop(folder, None)
        shutil.rmtree(folder, ignore_errors=True)


def send(sock, message, fds=()):
    data = json.dumps(message).encode()
    if fds:
        socket.send_fds(sock, [data], list(fds))
    else:
        sock.send(data)


def run_worker(own, fds, plugin, class_name):
    """In the forked child: become a plain worker on the three descriptors, never return.
    `own` closes what the child inherits of the server's own descriptors."""
    code = 1
    try:
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        own()
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
        for fd in fds:
            if fd > 2:
                os.close(fd)
        sys.argv = [codex_worker.__file__, plugin, class_name]
        try:
            code = codex_worker.main(sys.argv)
        except SystemExit as exc:
            # What the interpreter does with a `sys.exit()` that reaches the top.
            if exc.code is None:
                code = 0
            elif isinstance(exc.code, int):
                code = exc.code
            else:
                print(exc.code, file=sys.stderr)
                code = 1
        atexit._run_exitfuncs()
    except BaseException:
        traceback.print_exc()
    finally:
        try:
            sys.stderr.flush()
        finally:
            os._exit(code)


def fork_worker(sock, own, request, fds):
    """Forks one worker and tells the host its pid, with a pidfd for it attached."""
    rid = request.get("id")
    plugin, class_name = request.get("plugin"), request.get("class")
    if len(fds) != 3 or not isinstance(plugin, str) or not isinstance(class_name, str):
        for fd in fds:
            os.close(fd)
        send(sock, {"id": rid, "error": "a fork request needs a plugin, a class and three descriptors"})
        return
    sys.stderr.flush()
    try:
        pid = os.fork()
    except OSError as exc:
        for fd in fds:
            os.close(fd)
        send(sock, {"id": rid, "error": "fork failed: %s" % exc})
        return
    if pid == 0:
        run_worker(own, fds, plugin, class_name)
    for fd in fds:
        os.close(fd)
    # Opened before this process can reap the child, so it names that child and no other.
    pidfd = os.pidfd_open(pid)
    try:
        send(sock, {"id": rid, "pid": pid}, [pidfd])
    finally:
        os.close(pidfd)


def reap(sock):
    """Collects every worker that has ended and reports its wait status."""
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        send(sock, {"exited": pid, "status": status})


def main():
    if not hasattr(os, "pidfd_open") or not hasattr(socket, "send_fds"):
        print("the fork server needs Python 3.9 or later on Linux (os.pidfd_open)", file=sys.stderr)
        return 2
    sock = socket.socket(fileno=os.dup(0))
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda signum, frame: None)
    # A Ctrl-C meant for the server is the host's to handle: the host closes the socket.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    warm_up()
    gc.collect()
    gc.freeze()
    selector = selectors.DefaultSelector()
    selector.register(sock, selectors.EVENT_READ)
    selector.register(wake_r, selectors.EVENT_READ)

    def own():
        selector.close()
        sock.close()
        os.close(wake_r)
        os.close(wake_w)

    send(sock, {"ready": True, "pid": os.getpid()})
    while True:
        for key, _ in selector.select():
            if key.fileobj is sock:
                data, fds, _flags, _addr = socket.recv_fds(sock, MAX_MESSAGE, 3)
                if not data:
                    return 0
                try:
                    request = json.loads(data)
                except ValueError as exc:
                    for fd in fds:
                        os.close(fd)
                    send(sock, {"id": None, "error": "bad request: %s" % exc})
                    continue
                fork_worker(sock, own, request, fds)
            else:
                try:
                    while os.read(wake_r, 512):
                        pass
                except BlockingIOError:
                    pass
                reap(sock)


if __name__ == "__main__":
    try:
        code = main()
    except (BrokenPipeError, ConnectionResetError):
        code = 0
    sys.stderr.flush()
    os._exit(code)
