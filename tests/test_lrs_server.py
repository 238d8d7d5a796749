"""Issue 21: the real Learning Record Store the tests start (tests/lrs_server.py: Ralph from its own
hash-locked venv, built on the first run) does what an LRS does for the app's sender: a statement
posted comes back by its registration, an id posted twice is stored once, a wrong password is
refused and the statements survive a restart. Both ways the harness runs Ralph's fs backend."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
import uuid

import pytest
from lrs_server import XAPI_VERSION, RalphServer


@pytest.fixture(scope="module", params=["file-per-post", "single-file"])
def ralph(request, tmp_path_factory):
    server = RalphServer(tmp_path_factory.mktemp("ralph"), single_file=request.param == "single-file")
    with server:
        yield server


def statement(registration: str) -> dict:
    return {"id": str(uuid.uuid4()),
            "actor": {"objectType": "Agent", "account": {"homePage": "https://lms.example.com", "name": "learner-7"}},
            "verb": {"id": "http://adlnet.gov/expapi/verbs/completed", "display": {"en-US": "completed"}},
            "object": {"objectType": "Activity", "id": "https://roleplay.example.com/personas/overcharged"},
            "result": {"score": {"scaled": 0.8, "raw": 8, "min": 0, "max": 10}, "success": True},
            "context": {"registration": registration}, "timestamp": "2026-12-01T10:00:00+00:00"}


def test_a_statement_posted_comes_back_by_its_registration(ralph):
    registration = str(uuid.uuid4())
    sent = statement(registration)
    status, body = ralph.post(sent)
    assert (status, json.loads(body)) == (200, [sent["id"]])
    (stored,) = ralph.statements(registration=registration)
    assert stored["id"] == sent["id"] and stored["result"] == sent["result"] and stored["actor"] == sent["actor"]
    assert ralph.statements(registration=str(uuid.uuid4())) == []


def test_a_statement_posted_twice_is_stored_once(ralph):
    registration = str(uuid.uuid4())
    sent = statement(registration)
    before = ralph.count()
    assert ralph.post([sent])[0] == 200
    assert ralph.post([sent]) == (204, "")  # already stored: nothing new
    assert ralph.count() == before + 1
    assert [s["id"] for s in ralph.statements(registration=registration)] == [sent["id"]]
    # Without a timestamp Ralph stamps each POST with its own time, and the same id then differs
    untimed = statement(registration)
    del untimed["timestamp"]
    assert ralph.post(untimed)[0] == 200
    status, body = ralph.post(untimed)
    assert status == 409 and "Differing statements already exist with the same ID" in body
    assert ralph.count() == before + 2


def test_posts_after_the_first_are_stored_and_read_back_across_pages(ralph):
    registration = str(uuid.uuid4())
    batches = [[statement(registration) for _ in range(70)] for _ in range(3)]  # 210: three pages of 100
    for batch in batches:
        status, body = ralph.post(batch)
        assert status == 200, body  # Ralph's fs backend as installed refuses the 2nd POST with 500
    read = ralph.statements(registration=registration)
    assert sorted(s["id"] for s in read) == sorted(s["id"] for batch in batches for s in batch)


def test_a_wrong_password_is_refused(ralph):
    token = base64.b64encode(f"{ralph.username}:not-{ralph.password}".encode()).decode()
    request = urllib.request.Request(f"{ralph.endpoint}statements", method="POST",
                                     data=json.dumps(statement(str(uuid.uuid4()))).encode(),
                                     headers={"Authorization": f"Basic {token}", "Content-Type": "application/json",
                                              "X-Experience-API-Version": XAPI_VERSION})
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(request, timeout=60)
    assert err.value.code == 401


def test_the_statements_survive_a_restart_on_the_same_endpoint(ralph):
    registration = str(uuid.uuid4())
    sent = statement(registration)
    assert ralph.post(sent)[0] == 200
    endpoint = ralph.endpoint
    ralph.stop()
    with pytest.raises(OSError):  # nothing listens: the sender sees a connection error
        ralph.post(statement(registration))
    ralph.start()
    assert ralph.endpoint == endpoint
    assert [s["id"] for s in ralph.statements(registration=registration)] == [sent["id"]]
    assert ralph.post(statement(registration))[0] == 200  # and it takes new ones
