"""The admin's filters of the lists that grow to millions of rows (blocks, claims, ledger) are
served newest first by an index: the page is read from an index in order, with no sort and
no walk of the primary key past rows of other values."""

import json

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from issuance.services import unit_claim_issue
from registry.models import Mechanism

BLOCKS = reverse("admin:tracking_block_changelist")
CLAIMS = reverse("admin:registry_unitclaim_changelist")
LEDGER = reverse("admin:registry_ledgerevent_changelist")
# Stands for the id of CCER, a mechanism none of the test blocks is of (the rare value the index
# is for: the primary key serves a filter that most rows match), known once the database is set up.
CCER = object()


def _page_query(client, url: str, params: dict, table: str) -> str:
    """The SQL of the list page's rows: the ordered SELECT from ``table``, limited to a page
    (Django leaves the LIMIT out when the count says no row matches)."""
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url, params).status_code == 200
    (sql,) = [
        query["sql"]
        for query in captured.captured_queries
        if query["sql"].startswith("SELECT") and f'FROM "{table}"' in query["sql"]
        and "ORDER BY" in query["sql"]
    ]  # fmt: skip
    return sql if " LIMIT " in sql else f"{sql} LIMIT 100"


def _plan_nodes(sql: str) -> list[dict]:
    """Every node of the plan PostgreSQL picks when scanning the whole table is ruled out (the
    test tables are tiny: a sequential scan would win there for any query)."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_bitmapscan = off")
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}")
        plan = cursor.fetchone()[0]
    plan = json.loads(plan) if isinstance(plan, str) else plan
    nodes, pending = [], [plan[0]["Plan"]]
    while pending:
        node = pending.pop()
        nodes.append(node)
        pending.extend(node.get("Plans", []))
    return nodes


@pytest.fixture
def claims(issuer, march_record, owner_account):
    for _ in range(3):
        unit_claim_issue(
            actor=issuer, mechanism="GEC", production_record=march_record, account=owner_account,
            quantity=5,
        )  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE tracking_block, registry_unitclaim, registry_ledgerevent")


@pytest.mark.parametrize(
    ("url", "params", "table", "index"),
    [
        (BLOCKS, {"status__exact": "frozen"}, "tracking_block", "block_status_newest"),
        (BLOCKS, {"mechanism__id__exact": CCER}, "tracking_block", "block_mechanism_newest"),
        (CLAIMS, {"status__exact": "revoked"}, "registry_unitclaim", "claim_not_live"),
        (CLAIMS, {"role__exact": "derived"}, "registry_unitclaim", "claim_derivation"),
        (LEDGER, {"kind__exact": "claim.revoked"}, "registry_ledgerevent", "ledger_kind_newest"),
    ],
)
def test_a_filtered_admin_list_reads_its_page_from_an_index_in_order(
    admin_client, claims, url, params, table, index
):
    ccer_id = Mechanism.objects.get(code="CCER").pk
    params = {name: ccer_id if value is CCER else value for name, value in params.items()}

    nodes = _plan_nodes(_page_query(admin_client, url, params, table))

    assert index in {node.get("Index Name") for node in nodes}, nodes
    assert not [node for node in nodes if node["Node Type"] in {"Sort", "Incremental Sort"}]
