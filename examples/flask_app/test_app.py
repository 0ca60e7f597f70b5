"""The Flask test client with SPOOLRT_EAGER: the task runs inline, through signing and dispatch.

Run from this directory: python -m pytest test_app.py
"""

import pytest
from app import app

import spoolrt.core.config


@pytest.fixture
def client():
    app.config["SPOOLRT_EAGER"] = True
    app.extensions["spoolrt"].init_app(app)  # apply the changed config
    try:
        yield app.test_client()
    finally:
        spoolrt.core.config.configure(eager=False)
        app.config.pop("SPOOLRT_EAGER")


def test_report_is_built_by_the_time_the_request_returns(client):
    answer = client.post("/reports", data={"text": "the cat and the hat"})
    assert answer.status_code == 200  # eager: the task already ran
    assert answer.json["status"] == "done"
    assert answer.json["result"] == {
        "title": "Word count",
        "words": 5,
        "distinct": 4,
        "pid": answer.json["result"]["pid"],
    }
    again = client.get(answer.json["status_url"]).json
    assert again["status"] == "done" and again["result"] == answer.json["result"]


def test_unknown_task_id_is_404(client):
    assert client.get("/reports/0000").status_code == 404
