"""The Livy test server speaks the REST protocol sparkmagic relies on, and runs code like Livy's
PySpark REPL: a change in it that would make the kernel tests meaningless is caught here."""

import base64
import time
from collections import namedtuple

import pytest
import requests

pytestmark = pytest.mark.slow

TIMEOUT_SECONDS = 300


def call(server, method, path, body=None):
    """One request to the server; return (HTTP status, JSON body)."""
    response = requests.request(method, server.url + path, json=body, timeout=30)
    return response.status_code, response.json()


def wait_for(server, path, done):
    """GET `path` until done(reply) holds; return every state seen on the way and the last reply."""
    states, deadline = [], time.monotonic() + TIMEOUT_SECONDS
    while True:
        _, reply = call(server, "GET", path)
        states.append(reply["state"])
        if done(reply):
            return states, reply
        assert time.monotonic() < deadline, f"{path} still {reply['state']} after {TIMEOUT_SECONDS} s"
        time.sleep(0.1)


StartedSession = namedtuple("StartedSession", "id post_status post_state states")


def start_session(server, body=None):
    """POST /sessions, then GET it until it leaves 'starting'."""
    status, created = call(server, "POST", "/sessions", body or {"kind": "pyspark"})
    states, _ = wait_for(server, f"/sessions/{created['id']}", lambda reply: reply["state"] != "starting")
    return StartedSession(created["id"], status, created["state"], states)


@pytest.fixture(scope="module")
def session(livy_server):
    """One pyspark session, shared by this module's statements."""
    started = start_session(livy_server)
    yield started
    call(livy_server, "DELETE", f"/sessions/{started.id}")


def output_of(server, session, code):
    """Run `code` as a statement of `session`; return its output once available."""
    status, statement = call(server, "POST", f"/sessions/{session.id}/statements", {"code": code})
    assert status == 201
    _, statement = wait_for(server, f"/sessions/{session.id}/statements/{statement['id']}",
                            lambda reply: reply["state"] == "available")
    return statement["output"]


def test_new_session_is_created_starting_then_becomes_idle(session):
    assert session.post_status == 201 and session.post_state == "starting"
    assert session.states[-1] == "idle" and set(session.states) <= {"starting", "idle"}


def test_idle_session_reports_its_kind_spark_application_and_log(livy_server, session):
    _, reply = call(livy_server, "GET", f"/sessions/{session.id}")
    assert reply["kind"] == "pyspark" and reply["appId"].startswith("local-")
    assert isinstance(reply["log"], list)
    assert reply["appInfo"]["sparkUiUrl"].startswith("http://")


def test_sessions_lists_every_session(livy_server, session):
    _, reply = call(livy_server, "GET", "/sessions")
    assert session.id in [listed["id"] for listed in reply["sessions"]]
    assert reply["total"] == len(reply["sessions"])


def test_spark_and_sc_exist_in_a_new_session(livy_server, session):
    output = output_of(livy_server, session, "spark.range(3).count(), sc.master")
    assert output["data"] == {"text/plain": "(3, 'local[2]')"}


def test_statements_run_in_order_and_the_last_expression_value_follows_the_printed_text(livy_server, session):
    output = output_of(livy_server, session, "print('first')\nanswer = 41\nanswer + 1")
    assert output["status"] == "ok"
    assert output["data"] == {"text/plain": "first\n42"}


def test_variables_persist_from_one_statement_to_the_next(livy_server, session):
    output_of(livy_server, session, "kept = 'from before'")
    assert output_of(livy_server, session, "kept")["data"]["text/plain"] == "'from before'"


def test_a_statement_without_output_returns_empty_text(livy_server, session):
    assert output_of(livy_server, session, "quiet = 1")["data"] == {"text/plain": ""}


def test_statement_is_waiting_or_running_until_available_and_the_session_busy_meanwhile(livy_server, session):
    _, statement = call(livy_server, "POST", f"/sessions/{session.id}/statements",
                        {"code": "import time\ntime.sleep(1)"})
    assert statement["state"] in ("waiting", "running") and statement["output"] is None
    assert call(livy_server, "GET", f"/sessions/{session.id}")[1]["state"] == "busy"
    states, statement = wait_for(livy_server, f"/sessions/{session.id}/statements/{statement['id']}",
                                 lambda reply: reply["state"] == "available")
    assert set(states) <= {"waiting", "running", "available"} and statement["output"]["status"] == "ok"
    assert call(livy_server, "GET", f"/sessions/{session.id}")[1]["state"] == "idle"


def test_an_exception_comes_back_as_an_error_with_name_value_and_traceback(livy_server, session):
    output = output_of(livy_server, session, "def check():\n    raise ValueError('bad value')\ncheck()")
    assert output["status"] == "error"
    assert (output["ename"], output["evalue"]) == ("ValueError", "bad value")
    assert output["traceback"][-1] == "ValueError: bad value\n"
    assert any('File "<stdin>", line 2, in check' in line for line in output["traceback"])


def test_matplot_returns_the_current_figure_as_base64_png(livy_server, session):
    output = output_of(livy_server, session,
                       "import matplotlib.pyplot as plt\nplt.figure()\nplt.plot([1, 2])\n%matplot plt")
    assert output["status"] == "ok"
    assert base64.b64decode(output["data"]["image/png"]).startswith(b"\x89PNG\r\n\x1a\n")


def test_an_unknown_magic_is_an_error(livy_server, session):
    output = output_of(livy_server, session, "x = 1\n%nosuchmagic x")
    assert output["status"] == "error" and "nosuchmagic" in output["evalue"]


def test_unknown_session_or_statement_is_404(livy_server, session):
    assert call(livy_server, "GET", "/sessions/9999")[0] == 404
    assert call(livy_server, "GET", f"/sessions/{session.id}/statements/9999")[0] == 404


def test_only_pyspark_sessions_are_accepted(livy_server):
    status, reply = call(livy_server, "POST", "/sessions", {"kind": "spark"})
    assert status == 400 and "pyspark" in reply["msg"]


def test_delete_stops_the_session_process_and_forgets_the_session(livy_server):
    _, created = call(livy_server, "POST", "/sessions", {"kind": "pyspark"})
    session = livy_server.sessions[created["id"]]
    assert call(livy_server, "DELETE", f"/sessions/{created['id']}") == (200, {"msg": "deleted"})
    assert not session.process_running
    assert call(livy_server, "GET", f"/sessions/{created['id']}")[0] == 404


def test_session_whose_spark_cannot_start_is_dead_with_the_reason_in_its_log(livy_server):
    started = start_session(livy_server, {"kind": "pyspark", "conf": {"spark.master": "no-such-master"}})
    assert started.states[-1] == "dead"
    _, log = call(livy_server, "GET", f"/sessions/{started.id}/log?from=0")
    assert any("Master must either be yarn or start with spark" in line for line in log["log"])
    call(livy_server, "DELETE", f"/sessions/{started.id}")
