#!/usr/bin/env python3
"""A Tyk rich plugin in Python: the coprocess.Dispatcher gRPC service on Debian's
python3-grpcio and python3-protobuf, to show that a plugin stack other than gRPC C++
works with the gateway (tests/integration/test_plugin_python.py runs it).

    python_plugin.py [--port PORT] [--stubs-dir DIR] [--proto-dir DIR]

The Python stubs are generated when it starts, from the gateway's own
proto/coprocess/*.proto, with protoc and grpc_python_plugin (Debian's
protobuf-compiler and protobuf-compiler-grpc; not python3-grpc-tools):

    protoc --python_out=DIR --grpc_python_out=DIR \
        --plugin=protoc-gen-grpc_python=$(which grpc_python_plugin) \
        -I proto/coprocess proto/coprocess/*.proto

into --stubs-dir (created if missing, left in place) or else a temporary directory
removed at exit. It listens on 127.0.0.1:PORT (--port 0, the default, picks a free
port), prints "listening on 127.0.0.1:PORT" to stdout once it accepts calls, logs one
line per call to stderr, and stops gracefully on SIGTERM/SIGINT (exit 0).

Hooks (by Object.hook_name):
  PyPre   (pre)         request.set_headers["X-Py-Plugin"] = "yes" and
                        request.add_params["py"] = "1"
  PyAuth  (auth_check)  "Authorization: py-secret": a session (rate 0: no rate limit,
                        metadata token) and metadata["token"] = "py-secret";
                        anything else: return_overrides 403 "py says no"
  other                 the object returned unchanged
DispatchEvent logs the payload and returns an empty EventReply.
"""

import argparse
import glob
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from concurrent import futures

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_PROTO_DIR = os.path.normpath(os.path.join(HERE, "..", "..", "..", "proto", "coprocess"))

SECRET = "py-secret"


def log(msg):
    sys.stderr.write(msg + "\n")
    sys.stderr.flush()


def generate_stubs(out_dir, proto_dir=DEFAULT_PROTO_DIR):
    """Runs protoc with grpc_python_plugin on proto_dir/*.proto into out_dir."""
    protoc = shutil.which("protoc")
    plugin = shutil.which("grpc_python_plugin")
    if not protoc or not plugin:
        raise SystemExit("python_plugin: protoc and grpc_python_plugin are needed (Debian "
                         "packages protobuf-compiler and protobuf-compiler-grpc)")
    protos = sorted(glob.glob(os.path.join(proto_dir, "*.proto")))
    if not protos:
        raise SystemExit("python_plugin: no .proto files in %s" % proto_dir)
    os.makedirs(out_dir, exist_ok=True)
    cmd = [protoc, "--python_out=" + out_dir, "--grpc_python_out=" + out_dir,
           "--plugin=protoc-gen-grpc_python=" + plugin, "-I", proto_dir] + protos
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       stdin=subprocess.DEVNULL, timeout=60)
    if p.returncode != 0:
        raise SystemExit("python_plugin: %s failed (%d): %s"
                         % (" ".join(cmd), p.returncode, p.stdout.decode(errors="replace")))


def serve(port, stubs_dir):
    # The generated modules import each other by their bare names
    # (coprocess_object_pb2 imports coprocess_common_pb2, ...).
    sys.path.insert(0, stubs_dir)
    import grpc
    import coprocess_common_pb2 as common_pb
    import coprocess_object_pb2 as pb
    import coprocess_object_pb2_grpc as pb_grpc
    import coprocess_session_state_pb2 as session_pb

    class Dispatcher(pb_grpc.DispatcherServicer):
        def Dispatch(self, obj, context):
            # The object received, changed in place and sent back (the gateway needs
            # at least request.url echoed).
            hook = obj.hook_name
            what = "%s (%s) %s %s" % (hook, common_pb.HookType.Name(obj.hook_type),
                                      obj.request.method, obj.request.url)
            if hook == "PyPre":
                obj.request.set_headers["X-Py-Plugin"] = "yes"
                obj.request.add_params["py"] = "1"
                log(what + ": header and param added")
            elif hook == "PyAuth":
                if obj.request.headers.get("Authorization") == SECRET:
                    # CopyFrom marks the session as present even though every field
                    # but metadata has its default value.
                    obj.session.CopyFrom(session_pb.SessionState(
                        rate=0, per=0, quota_max=-1, metadata={"token": SECRET}))
                    obj.metadata["token"] = SECRET
                    log(what + ": accepted")
                else:
                    obj.request.return_overrides.response_code = 403
                    obj.request.return_overrides.response_error = "py says no"
                    log(what + ": rejected")
            else:
                log(what + ": unknown hook, object returned unchanged")
            return obj

        def DispatchEvent(self, event, context):
            log("event: " + event.payload)
            return pb.EventReply()

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    pb_grpc.add_DispatcherServicer_to_server(Dispatcher(), server)
    try:
        bound = server.add_insecure_port("127.0.0.1:%d" % port)
    except RuntimeError as e:
        raise SystemExit("python_plugin: cannot listen on 127.0.0.1:%d: %s" % (port, e))
    if bound == 0:
        raise SystemExit("python_plugin: cannot listen on 127.0.0.1:%d" % port)

    stop = threading.Event()

    def on_signal(signum, frame):
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    server.start()
    print("listening on 127.0.0.1:%d" % bound, flush=True)
    while not stop.wait(0.5):
        pass
    log("shutting down")
    server.stop(grace=1).wait(5)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (0: pick)")
    ap.add_argument("--stubs-dir", help="where to generate the Python stubs")
    ap.add_argument("--proto-dir", default=DEFAULT_PROTO_DIR,
                    help="the coprocess .proto files (default %(default)s)")
    args = ap.parse_args()
    stubs_dir = args.stubs_dir
    temporary = stubs_dir is None
    if temporary:
        stubs_dir = tempfile.mkdtemp(prefix="coprocess-py-")
    try:
        generate_stubs(stubs_dir, args.proto_dir)
        serve(args.port, stubs_dir)
    finally:
        if temporary:
            shutil.rmtree(stubs_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
