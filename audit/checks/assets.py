"""One physical asset, one live registration (I9): identifiers shared by two live projects, and
likely twins for the auditor to look at."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _

from audit.checks.base import Check
from audit.scope import ReportScope, either
from registry.selectors import TWIN_DISTANCE_SQL, twin_condition_sql

LIVE = "('pending', 'approved')"


def _shared_identities() -> str:
    """SQL of (project, other project, field, value) for every identity held by two live
    projects. Liveness is read from the projects' status, not from the ``live`` flag of the
    child rows, so a flag written wrong is no hiding place."""
    return f"""
        SELECT a.id AS project_id, b.id AS other_project_id, 'national_code' AS field,
               a.national_code AS value
        FROM registry_project AS a
        JOIN registry_project AS b
          ON b.national_code = a.national_code AND b.id > a.id AND b.status IN {LIVE}
        WHERE a.status IN {LIVE} AND a.national_code <> ''
        UNION ALL
        SELECT first.project_id, second.project_id, 'identifiers',
               first.registry || ':' || first.identifier
        FROM registry_projectidentifier AS first
        JOIN registry_projectidentifier AS second
          ON second.registry = first.registry AND second.identifier = first.identifier
         AND second.project_id > first.project_id
        JOIN registry_project AS a ON a.id = first.project_id AND a.status IN {LIVE}
        JOIN registry_project AS b ON b.id = second.project_id AND b.status IN {LIVE}
        UNION ALL
        SELECT first.project_id, second.project_id, 'meters',
               first.country || ':' || first.meter_id
        FROM registry_projectmeter AS first
        JOIN registry_projectmeter AS second
          ON second.country = first.country AND second.meter_id = first.meter_id
         AND second.project_id > first.project_id
         AND daterange(second.valid_from, second.valid_to, '[)')
             && daterange(first.valid_from, first.valid_to, '[)')
        JOIN registry_project AS a ON a.id = first.project_id AND a.status IN {LIVE}
        JOIN registry_project AS b ON b.id = second.project_id AND b.status IN {LIVE}
    """


def _twins() -> str:
    """SQL of (project, other project) likely twins among live projects: the near pairs (through
    the latitude index) and the similar-name pairs (through the technology, province and
    capacity index; the trigram index cannot bound an all-pairs search when names share common
    words such as "wind farm"), each found on its own, then put together."""
    pairs = []
    for which in ("near", "namesake"):
        pairs.append(f"""
            SELECT a.id AS project_id, b.id AS other_project_id
            FROM registry_project AS a
            JOIN registry_project AS b ON b.id > a.id AND b.status IN {LIVE}
            WHERE a.status IN {LIVE} AND {twin_condition_sql(which, trigram_operator=False)}
        """)
    return " UNION ".join(pairs)


def _assets_findings(scope: ReportScope) -> tuple[str, list[Any]]:
    in_scope, params = either(
        scope.project_condition("pair.project_id"),
        scope.project_condition("pair.other_project_id"),
    )
    sql = f"""
        WITH shared AS ({_shared_identities()}),
        twin AS (
            {_twins()}
            EXCEPT SELECT project_id, other_project_id FROM shared
        ),
        pair AS (
            SELECT project_id, other_project_id, 'shared_identifier' AS problem,
                   'fail' AS severity, field, value
            FROM shared
            UNION ALL
            SELECT project_id, other_project_id, 'likely_twin', 'warning', NULL, NULL
            FROM twin
        )
        SELECT pair.problem, pair.severity, pair.field, pair.value,
               a.code AS project, a.name AS project_name, a.status AS project_status,
               owner_a.code AS owner, a.capacity_mw::text AS capacity_mw,
               b.code AS other_project, b.name AS other_project_name,
               b.status AS other_project_status, owner_b.code AS other_owner,
               b.capacity_mw::text AS other_capacity_mw,
               a.technology, a.province, b.province AS other_province,
               round(({TWIN_DISTANCE_SQL})::numeric, 3) AS distance_km,
               round(similarity(lower(a.name), lower(b.name))::numeric, 3) AS name_similarity
        FROM pair
        JOIN registry_project AS a ON a.id = pair.project_id
        JOIN registry_project AS b ON b.id = pair.other_project_id
        JOIN accounts_organisation AS owner_a ON owner_a.id = a.owner_id
        JOIN accounts_organisation AS owner_b ON owner_b.id = b.owner_id
        WHERE {in_scope}
    """
    return sql, params


def _assets_counts(scope: ReportScope) -> tuple[str, list[Any]]:
    projects, params = scope.project_condition("project.id")
    sql = f"""
        SELECT count(*) AS examined,
               count(*) FILTER (WHERE project.national_code <> '') AS with_national_code
        FROM registry_project AS project
        WHERE project.status IN {LIVE} AND {projects}
    """
    return sql, params


ASSET_CHECKS = [
    Check(
        id="assets_registered_once",
        title=_("Each physical asset is registered once"),
        description=_(
            "No national filing code, revenue meter (over an overlapping validity) or identifier "
            "in another registry is held by two live (pending or approved) projects: each such "
            "pair is a failure naming both projects and the identifier. Likely twins without a "
            "shared identifier (same technology, and either within 1 km of each other, or in "
            "the same province with a name similarity of at least 0.6 and capacities within "
            "10 %) are listed as warnings for the auditor, with their distance, name similarity "
            "and capacities; they do not fail the check."
        ),
        guarantee="I9",
        counts=_assets_counts,
        findings=_assets_findings,
        order_by="severity, problem, project, other_project, field, value",
        fails_when="record->>'severity' = 'fail'",
    ),
]
