"""A small server that speaks the part of Apache Livy's REST API that sparkmagic 0.23 uses.

Written for the tests, on loopback only: sparkmagic's PySpark kernel sends every notebook cell
here as it would to Livy on EMR. Each interactive session is its own Python process
(tests/livy/repl.py) with a local SparkSession; its statements run one at a time, in order.

Endpoints (https://livy.apache.org/docs/latest/rest-api.html; the status codes sparkmagic accepts are in
https://github.com/jupyter-incubator/sparkmagic/blob/master/sparkmagic/sparkmagic/livyclientlib/livyreliablehttpclient.py):
  GET    /sessions                              {"from", "total", "sessions": [session]}
  POST   /sessions                   {"kind": "pyspark", "conf": {...}}  -> 201 session, "starting"
  GET    /sessions/{id}                         session: id, kind, state, appId, appInfo, log
  GET    /sessions/{id}/log?from=&size=         {"id", "from", "total", "log": [line]}
  DELETE /sessions/{id}                         stops the session's process -> {"msg": "deleted"}
  POST   /sessions/{id}/statements   {"code"}   -> 201 statement, "waiting"
  GET    /sessions/{id}/statements              {"total_statements", "statements": [statement]}
  GET    /sessions/{id}/statements/{sid}        statement: id, code, state, output, progress

Session states: starting -> idle <-> busy; dead if its process exits; shutting_down on DELETE.
Statement states: waiting -> running -> available. A statement's output is
{"status": "ok", "execution_count", "data": {mime type: value}} or
{"status": "error", "execution_count", "ename", "evalue", "traceback": [line]}.

Run it by hand (cells then run in the folder it was started from):
  .venv/bin/python tests/livy/server.py --port 8998
"""

import argparse
import collections
import itertools
import json
import os
import re
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

REPL = Path(__file__).with_name("repl.py")
LOOPBACK = "127.0.0.1"
# Spark properties of every session unless the client's "conf" says otherwise: tests run small.
DEFAULT_SPARK_CONF = {"spark.master": "local[2]", "spark.driver.memory": "2g"}
# Livy's session fields that are Spark properties (what %%configure usually sets).
SPARK_PROPERTY_FIELDS = {"driverMemory": "spark.driver.memory", "driverCores": "spark.driver.cores",
                         "executorMemory": "spark.executor.memory", "executorCores": "spark.executor.cores",
                         "numExecutors": "spark.executor.instances"}
LOG_LINES_IN_SESSION = 20  # Livy returns the last lines of the driver's log with each session
STOP_TIMEOUT_SECONDS = 30


def now_ms():
    return int(time.time() * 1000)


class Statement:
    """One code block sent to a session, and its result once run."""

    def __init__(self, statement_id, code):
        self.id, self.code = statement_id, code
        self.state, self.output = "waiting", None
        self.started = self.completed = 0

    def to_json(self):
        return {"id": self.id, "code": self.code, "state": self.state, "output": self.output,
                "progress": 1.0 if self.state == "available" else 0.0,
                "started": self.started, "completed": self.completed}


class Session:
    """An interactive PySpark session: a REPL process, its statements, its log."""

    def __init__(self, session_id, name, spark_conf, cwd, env):
        self.id, self.name, self.kind = session_id, name, "pyspark"
        self.state, self.app_id, self.spark_ui_url = "starting", None, None
        self.statements = []
        self.log = collections.deque(maxlen=2000)
        self._pending = collections.deque()
        self._changed = threading.Condition()
        settings = {"app_name": f"livy-session-{session_id}", "conf": spark_conf}
        self._process = subprocess.Popen([sys.executable, str(REPL), json.dumps(settings)], cwd=cwd, env=env,
                                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                         text=True, encoding="utf-8")
        self._log_reader = threading.Thread(target=self._keep_log, daemon=True)
        self._log_reader.start()
        threading.Thread(target=self._run_statements, daemon=True).start()

    def to_json(self):
        with self._changed:
            return {"id": self.id, "name": self.name, "appId": self.app_id, "owner": None, "proxyUser": None,
                    "state": self.state, "kind": self.kind,
                    "appInfo": {"driverLogUrl": None, "sparkUiUrl": self.spark_ui_url},
                    "log": list(self.log)[-LOG_LINES_IN_SESSION:]}

    def submit(self, code):
        """Queue `code`; return its Statement (run when the ones before it are done)."""
        with self._changed:
            statement = Statement(len(self.statements), code)
            self.statements.append(statement)
            self._pending.append(statement)
            if self.state == "idle":  # busy from now on, so a client never sees idle with work queued
                self.state = "busy"
            self._changed.notify_all()
            return statement

    def stop(self):
        """Stop the REPL (it stops Spark); kill it if it does not exit in time."""
        with self._changed:
            self.state = "shutting_down"
            self._changed.notify_all()
        try:
            self._process.stdin.close()  # end of input: the REPL stops Spark and exits
            self._process.wait(STOP_TIMEOUT_SECONDS)
        except (OSError, subprocess.TimeoutExpired):
            self._process.kill()
            self._process.wait()

    @property
    def process_running(self):
        return self._process.poll() is None

    def _keep_log(self):
        for line in self._process.stderr:
            self.log.append(line.rstrip("\n"))

    def _next_statement(self):
        """The next queued statement, or None once the session is shutting down."""
        with self._changed:
            self._changed.wait_for(lambda: self._pending or self.state == "shutting_down")
            if self.state == "shutting_down":
                return None
            self.state = "busy"
            return self._pending.popleft()

    def _run_statements(self):
        ready = self._process.stdout.readline()
        if not ready:  # Spark did not start: the reason is in the log
            self._log_reader.join()  # all of it, before clients see the state
            with self._changed:
                if self.state == "starting":
                    self.state = "dead"
            return
        started = json.loads(ready)
        with self._changed:
            self.app_id, self.spark_ui_url = started["appId"], started["sparkUiUrl"]
            if self.state == "starting":
                self.state = "busy" if self._pending else "idle"
        while statement := self._next_statement():
            statement.state, statement.started = "running", now_ms()
            reply = self._exchange(statement.code)
            process_gone = reply is None
            if process_gone:  # Livy's shape for an error of its own
                reply = {"status": "error", "ename": "InternalError", "traceback": [],
                         "evalue": "the session's Python process exited; see the session log"}
            with self._changed:  # the statement's and the session's state change together
                statement.output = {**reply, "execution_count": statement.id}
                statement.state, statement.completed = "available", now_ms()
                if process_gone and self.state != "shutting_down":
                    self.state = "dead"
                elif self.state == "busy" and not self._pending:
                    self.state = "idle"
            if process_gone:
                return

    def _exchange(self, code):
        """Send one code block to the REPL; return its reply, or None if the process is gone."""
        try:
            self._process.stdin.write(json.dumps({"code": code}) + "\n")
            self._process.stdin.flush()
        except (OSError, ValueError):  # the process exited, or stop() closed its input
            return None
        reply = self._process.stdout.readline()
        return json.loads(reply) if reply else None


class LivyServer(ThreadingHTTPServer):
    """The HTTP server and its sessions. Use start() and close(), or `with LivyServer(...) as s:`."""

    daemon_threads = True

    def __init__(self, session_cwd, session_env, spark_conf=None, port=0):
        """Sessions run in folder `session_cwd` with environment `session_env`; port 0 picks one."""
        super().__init__((LOOPBACK, port), LivyRequestHandler)
        self.session_cwd, self.session_env = session_cwd, session_env
        self.spark_conf = {**DEFAULT_SPARK_CONF, **(spark_conf or {})}
        self.sessions = {}
        self.deleted_session_ids = []
        self.requests_seen = []  # (method, path) of every request, for the tests
        self._session_ids = itertools.count()

    @property
    def url(self):
        return f"http://{LOOPBACK}:{self.server_port}"

    def start(self):
        threading.Thread(target=self.serve_forever, daemon=True).start()
        return self

    def close(self):
        """Stop serving and stop every session's process."""
        self.shutdown()
        self.server_close()
        for session in list(self.sessions.values()):
            session.stop()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.close()

    def create_session(self, request):
        spark_conf = {**self.spark_conf, **request.get("conf", {})}
        for field, prop in SPARK_PROPERTY_FIELDS.items():
            if field in request:
                spark_conf[prop] = str(request[field])
        session = Session(next(self._session_ids), request.get("name"), spark_conf, self.session_cwd,
                          self.session_env)
        self.sessions[session.id] = session
        return session

    def delete_session(self, session):
        del self.sessions[session.id]
        session.stop()
        self.deleted_session_ids.append(session.id)


class NotFound(Exception):
    """Answered with 404 and Livy's message."""


class BadRequest(Exception):
    """Answered with 400 and Livy's message."""


class LivyRequestHandler(BaseHTTPRequestHandler):
    """Routes each request to a method named after its verb and path pattern."""

    server: LivyServer
    ROUTES = [
        ("GET", r"/sessions", "list_sessions"),
        ("POST", r"/sessions", "post_session"),
        ("GET", r"/sessions/(\d+)", "get_session"),
        ("DELETE", r"/sessions/(\d+)", "delete_session"),
        ("GET", r"/sessions/(\d+)/log", "get_log"),
        ("GET", r"/sessions/(\d+)/statements", "list_statements"),
        ("POST", r"/sessions/(\d+)/statements", "post_statement"),
        ("GET", r"/sessions/(\d+)/statements/(\d+)", "get_statement"),
    ]

    def do_GET(self):
        self._route("GET")

    def do_POST(self):
        self._route("POST")

    def do_DELETE(self):
        self._route("DELETE")

    def log_message(self, format, *args):
        """Quiet: the tests read server.requests_seen instead of a console log."""

    def _route(self, method):
        url = urlparse(self.path)
        self.server.requests_seen.append((method, url.path))
        self.query = {name: values[0] for name, values in parse_qs(url.query).items()}
        try:
            for verb, pattern, handler in self.ROUTES:
                match = re.fullmatch(pattern, url.path.rstrip("/"))
                if verb == method and match:
                    status, body = getattr(self, handler)(*map(int, match.groups()))
                    break
            else:
                raise NotFound(f"no route for {method} {url.path}")
        except NotFound as error:
            status, body = 404, {"msg": str(error)}
        except BadRequest as error:
            status, body = 400, {"msg": str(error)}
        self._reply(status, body)

    def _reply(self, status, body):
        payload = json.dumps(body).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _request_json(self):
        length = int(self.headers.get("Content-Length") or 0)
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except json.JSONDecodeError as error:
            raise BadRequest(f"request body is not JSON: {error}")
        if not isinstance(body, dict):
            raise BadRequest("request body must be a JSON object")
        return body

    def _session(self, session_id):
        try:
            return self.server.sessions[session_id]
        except KeyError:
            raise NotFound(f"Session '{session_id}' not found.") from None

    def list_sessions(self):
        sessions = [session.to_json() for session in self.server.sessions.values()]
        return 200, {"from": 0, "total": len(sessions), "sessions": sessions}

    def post_session(self):
        request = self._request_json()
        if request.get("kind", "pyspark") != "pyspark":
            raise BadRequest(f"this test server runs pyspark sessions only, not {request['kind']!r}")
        return 201, self.server.create_session(request).to_json()

    def get_session(self, session_id):
        return 200, self._session(session_id).to_json()

    def delete_session(self, session_id):
        self.server.delete_session(self._session(session_id))
        return 200, {"msg": "deleted"}

    def get_log(self, session_id):
        log = list(self._session(session_id).log)
        start = int(self.query.get("from", 0))
        size = int(self.query.get("size", len(log)))
        return 200, {"id": session_id, "from": start, "total": len(log), "log": log[start:start + size]}

    def list_statements(self, session_id):
        statements = [statement.to_json() for statement in self._session(session_id).statements]
        return 200, {"total_statements": len(statements), "statements": statements}

    def post_statement(self, session_id):
        session = self._session(session_id)
        code = self._request_json().get("code")
        if not isinstance(code, str):
            raise BadRequest('a statement needs "code" (a string)')
        if session.state in ("dead", "shutting_down"):
            raise BadRequest(f"Session {session_id} is in state {session.state}")
        return 201, session.submit(code).to_json()

    def get_statement(self, session_id, statement_id):
        statements = self._session(session_id).statements
        if statement_id >= len(statements):
            raise NotFound(f"Statement {statement_id} not found in session {session_id}.")
        return 200, statements[statement_id].to_json()


def main():
    """Serve on loopback until interrupted; sessions run in the current folder."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8998, help="port on 127.0.0.1 (Livy's default: 8998)")
    arguments = parser.parse_args()
    env = {**os.environ, "SPARK_LOCAL_IP": LOOPBACK, "PYSPARK_PYTHON": sys.executable}
    server = LivyServer(os.getcwd(), env, port=arguments.port)
    print(f"Livy test server on {server.url}; sessions run in {os.getcwd()}. Ctrl-C stops it.")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()


if __name__ == "__main__":
    main()
