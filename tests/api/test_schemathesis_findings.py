"""What schemathesis (.ci/schemathesis.sh) found, each kept as a plain test: server errors from
unusual but well-formed input, and responses the OpenAPI schema did not describe."""

from __future__ import annotations

import pytest
from drf_spectacular.generators import SchemaGenerator

from registry.api.problems import PROBLEM_CONTENT_TYPE

pytestmark = pytest.mark.django_db


def assert_problem(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == PROBLEM_CONTENT_TYPE
    problem = response.json()
    assert problem["status"] == status and problem["code"] == code, problem
    return problem


def test_a_token_request_whose_body_is_not_an_object_is_a_validation_error(api):
    # The login rate limit read a username from any body: a JSON list made it a 500.
    response = api(None).post("/api/v1/auth/token/", [None, None], format="json")
    assert_problem(response, 400, "validation_error")


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/cancellations/?created_after=0214-07-11T18:18:31-21:09",
        "/api/v1/transfers/?created_before=6262-08-30T13:57:48-13:25",
        "/api/v1/ledger/?occurred_after=2025-03-01T00:00:00-23:59",
    ],
)
def test_a_utc_offset_postgresql_does_not_accept_still_filters(api, administrator, path):
    # Python takes offsets up to 23:59, PostgreSQL up to 15:59: sent as given, a 500.
    response = api(administrator).get(path)
    assert response.status_code == 200, response.content


def test_a_moment_before_year_one_in_utc_is_a_validation_error(api, administrator):
    response = api(administrator).get(
        "/api/v1/retirements/?created_after=0001-01-01T00:00:00+01:00"
    )
    assert_problem(response, 400, "validation_error")


@pytest.mark.parametrize(
    "path", ["/api/v1/blocks/0.5/", "/api/v1/accounts/%C2%84/", "/api/v1/no-such-thing/"]
)
def test_an_api_url_no_route_matches_is_a_problem_not_an_html_page(api, administrator, path):
    assert_problem(api(administrator).get(path), 404, "not_found")


def test_other_unmatched_urls_keep_django_s_page(client):
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


def test_nul_in_a_json_body_is_a_validation_error_not_a_database_error(api, administrator):
    # A project code with NUL was looked up as it is; the driver refused the query: a 500.
    response = api(administrator).post(
        "/api/v1/production-records/", {"project": "a\x00"}, format="json"
    )
    problem = assert_problem(response, 400, "validation_error")
    assert "NUL" in problem["detail"]


def test_nul_in_a_lookup_is_not_found(api, administrator):
    assert_problem(api(administrator).get("/api/v1/mechanisms/a%00/"), 404, "not_found")


def test_nul_in_a_lookup_still_needs_authentication(api):
    assert_problem(api(None).get("/api/v1/mechanisms/a%00/"), 401, "not_authenticated")


def test_fields_that_can_be_null_are_nullable_in_the_schema():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    components = schema["components"]["schemas"]
    for component, field in [
        ("Block", "retirement"),  # a block not retired
        ("Cancellation", "account"),  # a revoked claim's units, in no account
        ("User", "organisation"),  # the administrator
        ("LedgerEvent", "actor"),  # events of the system (sealing)
    ]:
        assert components[component]["properties"][field].get("nullable") is True, component


def test_every_operation_documents_the_server_s_414():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    for path_item in schema["paths"].values():
        for operation in path_item.values():
            assert "414" in operation["responses"]
