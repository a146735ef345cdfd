"""Published checkpoints: the public API list, the public page with its JSON download, and
``ledger_verify --against`` comparing the database with a saved copy of that list."""

import json

import pytest
from django.core.management import call_command
from django.test import Client
from rest_framework.test import APIClient

from registry.ledger import record_event
from registry.models import Checkpoint
from tests.registry.test_ledger import seal_soon, tamper


@pytest.fixture
def two_checkpoints(db):
    checkpoints = []
    for number in (1, 2):
        record_event(kind="organisation.created", actor=None, payload={"n": number})
        checkpoints.append(seal_soon())
    assert [checkpoint.sequence for checkpoint in checkpoints] == [1, 2]
    return checkpoints


def saved_list(tmp_path) -> str:
    """What someone keeping copies saves: the public page's download, as served."""
    response = Client().get("/public/checkpoints.json")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    path = tmp_path / "checkpoints.json"
    path.write_bytes(b"".join(response.streaming_content))
    return str(path)


def verify_against(path: str, capsys) -> tuple[int, str]:
    try:
        call_command("ledger_verify", against=path)
    except SystemExit as exit_info:
        return exit_info.code, capsys.readouterr().err
    return 0, capsys.readouterr().out


@pytest.mark.django_db(transaction=True)
def test_anyone_lists_the_checkpoints_newest_first_without_login(two_checkpoints):
    response = APIClient().get("/api/v1/ledger/checkpoints/", HTTP_AUTHORIZATION="Token stale")

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2
    newest = body["results"][0]
    second = two_checkpoints[1]
    assert newest["sequence"] == 2
    assert newest["checkpoint_hash"] == second.checkpoint_hash
    assert newest["merkle_root"] == second.merkle_root
    assert newest["previous_hash"] == two_checkpoints[0].checkpoint_hash
    assert newest["event_count"] == second.event_count
    assert newest["sealed_at"]


@pytest.mark.django_db(transaction=True)
def test_the_public_page_lists_the_checkpoints_and_links_the_download(two_checkpoints):
    response = Client().get("/public/checkpoints/")

    assert response.status_code == 200
    page = response.content.decode()
    for checkpoint in two_checkpoints:
        assert checkpoint.checkpoint_hash in page
        assert checkpoint.merkle_root in page
    assert "/public/checkpoints.json" in page
    assert "/public/checkpoints/" in Client().get("/public/").content.decode()


@pytest.mark.django_db(transaction=True)
def test_the_download_holds_every_checkpoint_oldest_first(two_checkpoints, tmp_path):
    with open(saved_list(tmp_path), encoding="utf-8") as saved:
        entries = json.load(saved)["checkpoints"]

    assert [(entry["sequence"], entry["checkpoint_hash"]) for entry in entries] == [
        (checkpoint.sequence, checkpoint.checkpoint_hash) for checkpoint in two_checkpoints
    ]


@pytest.mark.django_db(transaction=True)
def test_ledger_verify_against_a_saved_copy_passes_when_nothing_changed(
    two_checkpoints, tmp_path, capsys
):
    path = saved_list(tmp_path)
    record_event(kind="organisation.created", actor=None, payload={"n": 3})
    seal_soon()  # a checkpoint sealed after the copy was taken is no problem

    code, said = verify_against(path, capsys)
    assert code == 0
    assert "2 saved checkpoints match" in said


@pytest.mark.django_db(transaction=True)
def test_ledger_verify_against_fails_when_the_newest_checkpoint_was_deleted(
    two_checkpoints, tmp_path, capsys
):
    path = saved_list(tmp_path)
    tamper("DELETE FROM registry_checkpoint WHERE sequence = 2")
    call_command("ledger_verify")  # the chain alone still holds: nothing follows the deleted one

    code, said = verify_against(path, capsys)
    assert code == 1
    assert "checkpoint 2 of the saved list is missing" in said


@pytest.mark.django_db(transaction=True)
def test_ledger_verify_against_fails_naming_a_checkpoint_that_differs(
    two_checkpoints, tmp_path, capsys
):
    path = saved_list(tmp_path)
    with open(path, encoding="utf-8") as saved:
        entries = json.load(saved)["checkpoints"]
    entries[0]["merkle_root"] = "0" * 64
    with open(path, "w", encoding="utf-8") as forged:
        json.dump(entries, forged)

    code, said = verify_against(path, capsys)
    assert code == 1
    assert "checkpoint 1 differs from the saved list: merkle_root" in said
    assert Checkpoint.objects.count() == 2


def test_ledger_verify_against_an_unreadable_file_says_so(db, tmp_path):
    path = tmp_path / "not.json"
    path.write_text("{nope", encoding="utf-8")

    with pytest.raises(Exception, match="cannot read the saved checkpoints"):
        call_command("ledger_verify", against=str(path))
