"""One Livy PySpark session: a Python process with a local SparkSession, run by tests/livy/server.py.

It executes code the way Livy's PySpark REPL (fake_shell.py) does, as far as a notebook can tell:

- `spark` (the SparkSession) and `sc` (its SparkContext) exist before the first statement;
- all top-level statements of a code block but the last are executed, the last one interactively,
  so a bare expression's value is shown;
- what the code prints (stdout, then stderr) and that value come back as one `text/plain`
  string without trailing whitespace;
- an exception comes back as `status: error` with `ename`, `evalue` and `traceback`;
- a block that is not valid Python as a whole is split into Python chunks and lines starting
  with `%`, Livy's magics: `%matplot NAME` returns NAME.gcf() as base64 `image/png`, and
  `%json NAME` returns NAME's value as `application/json`.

Reference: https://github.com/apache/incubator-livy/blob/master/repl/src/main/resources/fake_shell.py

Protocol with the server: one JSON object per line. On start-up the process writes
{"ready": true, "appId": ..., "sparkUiUrl": ...} once Spark runs (or exits non-zero with the error
on stderr); then, for each {"code": ...} line read, it writes one reply
{"status": "ok", "data": {...}} or {"status": "error", "ename", "evalue", "traceback"}.
Everything else a process writes (Spark's log, the JVM, native libraries) goes to stderr, which
the server keeps as the session's log.
"""

import ast
import base64
import io
import json
import os
import sys
import traceback
from contextlib import redirect_stderr, redirect_stdout

STATEMENT_FILE = "<stdin>"  # the file name Livy compiles statements with, as tracebacks show it


class UnknownMagic(Exception):
    """A `%name` line that is not one of Livy's magics."""


def magic_matplot(namespace, name):
    """Livy's `%matplot plt`: the current figure of the pyplot module `name` as base64 PNG."""
    png = io.BytesIO()
    namespace[name].gcf().savefig(png, format="png")
    return {"image/png": base64.b64encode(png.getvalue()).decode("ascii"), "text/plain": ""}


def magic_json(namespace, name):
    """Livy's `%json value`: the value as application/json."""
    return {"application/json": namespace[name]}


MAGICS = {"matplot": magic_matplot, "json": magic_json}


def split_into_chunks(code):
    """Python source blocks and `%magic` lines, in order, as Livy splits code that does not parse."""
    try:
        return [ast.parse(code, STATEMENT_FILE)]
    except SyntaxError:
        pass
    chunks, python_lines = [], []
    for line in code.rstrip().split("\n"):
        if line.startswith("%"):
            if python_lines:
                chunks.append("\n".join(python_lines))
                python_lines = []
            chunks.append(line)
        else:
            python_lines.append(line)
    if python_lines:
        chunks.append("\n".join(python_lines))
    # A chunk that still does not parse raises SyntaxError here, as in Livy.
    return [chunk if chunk.startswith("%") else ast.parse(chunk, STATEMENT_FILE) for chunk in chunks]


def run_python(module, namespace):
    """Run all statements of `module` but the last as a script, the last one as the REPL does."""
    if not module.body:
        return
    *body, last = module.body
    for statement in body:
        exec(compile(ast.Module([statement], type_ignores=[]), STATEMENT_FILE, "exec"), namespace)
    # "single" mode calls sys.displayhook on an expression's value: it prints its repr.
    exec(compile(ast.Interactive([last]), STATEMENT_FILE, "single"), namespace)


def run_magic(line, namespace):
    """Run one `%name argument` line; return its data."""
    name, _, argument = line[1:].partition(" ")
    if name not in MAGICS:
        raise UnknownMagic(f"unknown magic command '{name}'")
    return MAGICS[name](namespace, argument.strip())


def error_reply(error):
    """The reply for an exception raised by the code; its traceback starts at the user's code."""
    frames = list(traceback.extract_tb(error.__traceback__))
    while frames and frames[0].filename != STATEMENT_FILE:  # this REPL's own frames
        frames.pop(0)
    lines = ["Traceback (most recent call last):\n", *traceback.format_list(frames),
             *traceback.format_exception_only(type(error), error)]
    return {"status": "error", "ename": type(error).__name__, "evalue": str(error), "traceback": lines}


def execute(code, namespace):
    """Run one statement's code; return Livy's reply content for it."""
    stdout, stderr = io.StringIO(), io.StringIO()
    data = {}
    try:
        with redirect_stdout(stdout), redirect_stderr(stderr):
            for chunk in split_into_chunks(code):
                if isinstance(chunk, str):
                    data = run_magic(chunk, namespace)
                else:
                    data = {}
                    run_python(chunk, namespace)
    except BaseException as error:  # even SystemExit: Livy reports every error and keeps the session
        return error_reply(error)
    text = (data.pop("text/plain", "") + stdout.getvalue() + stderr.getvalue()).rstrip()
    if text or not data:
        data["text/plain"] = text
    return {"status": "ok", "data": data}


def start_spark(app_name, conf):
    """The session's SparkSession, with the Spark properties the client asked for."""
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName(app_name)
    for key, value in conf.items():
        builder = builder.config(key, value)
    return builder.getOrCreate()


def main():
    """Start Spark, say so, then answer one code request per input line until stdin closes."""
    settings = json.loads(sys.argv[1])
    # The protocol gets private copies of stdin and stdout; fd 1 then points at stderr, so what
    # the JVM or a native library prints cannot corrupt a reply, and user code reads no requests.
    requests = os.fdopen(os.dup(0), "r", encoding="utf-8")
    replies = os.fdopen(os.dup(1), "w", encoding="utf-8", buffering=1)
    os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
    os.dup2(2, 1)
    sys.stdin = io.StringIO()

    spark = start_spark(settings["app_name"], settings["conf"])
    namespace = {"__name__": "__main__", "__builtins__": __builtins__, "spark": spark,
                 "sc": spark.sparkContext}
    replies.write(json.dumps({"ready": True, "appId": spark.sparkContext.applicationId,
                              "sparkUiUrl": spark.sparkContext.uiWebUrl}) + "\n")
    for line in requests:
        replies.write(json.dumps(execute(json.loads(line)["code"], namespace), default=str) + "\n")
    spark.stop()


if __name__ == "__main__":
    main()
