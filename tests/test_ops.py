from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


def test_healthz(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_readyz_reports_every_service_ok(client):
    response = client.get("/readyz")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "ok" and body["failing"] == []
    assert set(body["services"]) == {"database", "redis", "s3", "broker"}
    assert all(service["ok"] for service in body["services"].values())


def test_readyz_names_s3_when_the_s3_server_is_stopped_and_logs_why(client, disposable_s3, caplog):
    assert client.get("/readyz").status_code == 200
    disposable_s3.stop_s3()
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["failing"] == ["s3"]
    assert body["services"]["s3"]["ok"] is False and body["services"]["database"]["ok"] is True
    # Anyone may ask: the answer names what fails and no more (the reason can name hosts).
    assert set(body["services"]["s3"]) == {"ok", "ms"}
    assert "127.0.0.1" not in response.content.decode()
    assert any("readiness: s3 is failing" in record.getMessage() for record in caplog.records)


def test_readyz_names_the_database_when_it_is_unreachable(client, settings):
    from django.db import connections

    original = connections["default"].settings_dict["HOST"]
    connections["default"].close()
    connections["default"].settings_dict["HOST"] = "/nonexistent-socket-dir"
    try:
        response = client.get("/readyz")
    finally:
        connections["default"].close()
        connections["default"].settings_dict["HOST"] = original
    assert response.status_code == 503
    assert "database" in response.json()["failing"]
