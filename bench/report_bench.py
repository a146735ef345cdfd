"""Benchmark 5: a uniqueness report over a registry of ``--report-blocks`` blocks.

The registry is generated with set-based SQL (``INSERT ... SELECT ... FROM generate_series``)
straight into the project's tables, so every constraint and trigger holds it to the same rules as
the services: the exclusion constraints, ``claim_inside_production``,
``block_quantity_matches_range``, ``retired_block_has_retirement``, the deferred foreign keys and
the ledger's ``txid`` stamp. Ledger events are built by SQL too, hashed in Python with
``registry.ledger.event_hash`` (SHA-256 of the canonical JSON, as the services write them) and
loaded with ``COPY``; ``registry.ledger.seal`` then closes a checkpoint over them.

What the registry holds (``n`` is a project's index, ``i`` a claim's place in issuance order):

- organisations: a regulator with its administrator, one issuing body per mechanism with its
  officer, one project owner per 10 projects and about one trader per 100 claims, each with a
  user and a holding account;
- projects (six wind or solar GEC projects in ten, two I-REC, one CCER whose tonnes are derived
  from its MWh, one energy-saving project issuing energy-use rights), each with its three
  streams, 24 consecutive monthly production records (contiguous serials, remainders carried)
  on its main stream, ending six months before the current month;
- one claim per production record, issued in month order until the claims carry the blocks
  asked for (the last month or so stays unissued); every fourth claim leaves a tenth of the
  record unclaimed; a CCER issuance is a source claim on the MWh, a derived production record
  and a derived claim on the tonnes; mechanisms that require a declaration (from the seeded
  mechanism data) carry the owner's declaration covering the record's year, its SHA-256 correct;
- ``1 + i % 7`` blocks per claim (four on average), splitting it exactly: the first stays with
  the owner, the others were transferred to traders (a Transfer each); half of those are retired
  (a Retirement each, one beneficiary, English or Chinese), one in ten cancelled (a
  Cancellation), one in ten frozen by the administrator; active and frozen units past their
  mechanism's validity (GEC: 24 months) are expired;
- ledger events as the services write them: project registered, declaration signed, production
  recorded, units issued, transferred, frozen, retired, cancelled and expired (in batches of
  10,000, as ``units_expire`` does), and a refused double claim or missing declaration now and
  then; in time order, committed in batches (so they carry several transaction ids), then
  sealed by a checkpoint.

The report runs in a child process, as a worker would run the task: ``uniqueness_report_request``
then ``uniqueness_report_run``. Its wall time and its peak resident memory (``ru_maxrss`` from
``wait4`` on that child alone) are measured beside ``SELECT count(*)`` over the tables it reads,
in the same run on the same database.

The peak is the child's ``VmHWM`` (high-water resident set of its own address space), read by the
child as it exits. ``ru_maxrss`` would not do: on Linux, ``exec`` folds the high-water mark of
the address space it replaces into the new program's ``ru_maxrss``, and with ``vfork`` that is the
parent's, so a child started by a 400 MB parent reports at least 400 MB.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
SHANGHAI = ZoneInfo("Asia/Shanghai")

MONTHS = 24  # monthly production records per project
MONTHS_BEFORE_NOW = 30  # the first period starts this many months before the current month
BLOCK_CYCLE = 7  # claim i is split into 1 + i % 7 blocks
BLOCKS_PER_CYCLE = BLOCK_CYCLE * (BLOCK_CYCLE + 1) // 2
PROJECTS_PER_OWNER = 10
CLAIMS_PER_TRADER = 100
MECHANISMS = ("GEC", "IREC", "CCER", "EUR")  # ids 2..5 of the issuing bodies and their officers
CONVERSION_FACTOR = "0.570300"
CONVERSION_SOURCE = "China regional grid emission factor 2023 (0.5703 tCO2/MWh)"
EVENT_BATCH = 200_000  # ledger events per COPY transaction
EXPIRY_BATCH = 10_000  # blocks per units.expired event, as tracking.services.units_expire
DECLARATION_TEMPLATE_VERSION = "2026-1"

# Tables the report reads, counted by the baseline.
BASELINE_TABLES = (
    "tracking_block",
    "registry_unitclaim",
    "registry_productionrecord",
    "registry_ledgerevent",
    "tracking_retirement",
    "tracking_cancellation",
    "registry_declaration",
)
GENERATED_TABLES = (
    "accounts_organisation",
    "accounts_user",
    "accounts_holdingaccount",
    "registry_mechanism_issuing_bodies",
    "registry_project",
    "registry_projectidentifier",
    "registry_stream",
    "registry_declaration",
    "registry_productionrecord",
    "registry_unitclaim",
    "tracking_transfer",
    "tracking_retirement",
    "tracking_cancellation",
    "tracking_block",
    "registry_ledgerevent",
    "registry_checkpoint",
)
MARKER_ORGANISATION = "rpt-regulator"


Say = Callable[[str], None]


# --------------------------------------------------------------------------------------------
# Sizes
# --------------------------------------------------------------------------------------------


def blocks_before(claim_index: int) -> int:
    """Blocks of the claims issued before claim ``claim_index`` (claim i has 1 + i % 7)."""
    cycles, rest = divmod(claim_index, BLOCK_CYCLE)
    return BLOCKS_PER_CYCLE * cycles + rest * (rest + 1) // 2


@dataclass(frozen=True)
class Plan:
    """How many of everything a registry of ``blocks`` blocks gets."""

    blocks: int
    claims: int  # claims that carry blocks (one per issued production record)
    last_claim_blocks: int  # the last claim carries what is left of ``blocks``
    projects: int
    owners: int
    traders: int
    first_month: dt.datetime  # local (Shanghai) wall-clock start of the first period, naive

    @classmethod
    def of(cls, blocks: int, *, today: dt.datetime | None = None) -> Plan:
        if blocks < 100:
            raise ValueError("a report benchmark needs at least 100 blocks")
        claims = max(1, blocks // (BLOCKS_PER_CYCLE // BLOCK_CYCLE) - BLOCK_CYCLE)
        while blocks_before(claims) < blocks:
            claims += 1
        # The first ``claims`` records in issuance order are issued: about one month of the
        # last records stays unissued, as production recorded but not yet certified.
        projects = -(-claims // (MONTHS - 1))
        local_now = (today or dt.datetime.now(dt.UTC)).astimezone(SHANGHAI)
        month_index = local_now.year * 12 + local_now.month - 1 - MONTHS_BEFORE_NOW
        first_month = dt.datetime(month_index // 12, month_index % 12 + 1, 1)
        return cls(
            blocks=blocks,
            claims=claims,
            last_claim_blocks=blocks - blocks_before(claims - 1),
            projects=projects,
            owners=-(-projects // PROJECTS_PER_OWNER),
            traders=max(10, claims // CLAIMS_PER_TRADER),
            first_month=first_month,
        )


# --------------------------------------------------------------------------------------------
# Generation: the plan in temporary tables, then one INSERT ... SELECT per table
# --------------------------------------------------------------------------------------------

# Identifiers are assigned by the plan (the tables are empty when generation starts), so rows can
# refer to each other before they exist; the identity sequences are moved past them at the end.
# Organisations and users: 1 the regulator and its administrator, 2..5 the issuing bodies of
# MECHANISMS and their officers, then the owners, then the traders. Accounts: owners, traders.
# Streams: 3n+1 electricity, 3n+2 carbon, 3n+3 energy saved.

PLAN_SQL = r"""
CREATE FUNCTION pg_temp.serial_text(code text, kind text, vintage integer, lower bigint,
                                    upper bigint) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT 'CN-' || code || '-' || kind || '-' || lpad(vintage::text, 6, '0') || '-'
           || lpad(lower::text, 12, '0') || '-' || lpad((upper - 1)::text, 12, '0')
$$;

CREATE FUNCTION pg_temp.iso(moment timestamptz) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT to_char(moment AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US') || '+00:00'
$$;

CREATE FUNCTION pg_temp.jitter(seed bigint) RETURNS interval
LANGUAGE sql IMMUTABLE AS $$
    SELECT (seed % 86400) * interval '1 second'
           + ((seed * 7919) % 1000000) * interval '1 microsecond'
$$;

CREATE TEMP TABLE rpt_month AS
SELECT m,
       (TIMESTAMP '{first_month}' + make_interval(months => m)) AT TIME ZONE 'Asia/Shanghai'
           AS period_start,
       (TIMESTAMP '{first_month}' + make_interval(months => m + 1)) AT TIME ZONE 'Asia/Shanghai'
           AS period_end,
       to_char(TIMESTAMP '{first_month}' + make_interval(months => m), 'YYYYMM')::integer
           AS vintage,
       m / 12 AS declaration_year
FROM generate_series(0, {months} - 1) AS m;

CREATE TEMP TABLE rpt_mechanism AS
SELECT mechanism.code, mechanism.id AS mechanism_id, picked.position + 2 AS body_id,
       mechanism.requires_declaration, mechanism.validity_months, mechanism.issuing_body_name
FROM (VALUES {mechanism_values}) AS picked (code, position)
JOIN registry_mechanism AS mechanism ON mechanism.code = picked.code;

CREATE TEMP TABLE rpt_project AS
SELECT n, n + 1 AS project_id,
       'R' || substr('{alphabet}', (n / 1048576) % 32 + 1, 1)
           || substr('{alphabet}', (n / 32768) % 32 + 1, 1)
           || substr('{alphabet}', (n / 1024) % 32 + 1, 1)
           || substr('{alphabet}', (n / 32) % 32 + 1, 1)
           || substr('{alphabet}', n % 32 + 1, 1) AS code,
       mechanism.code AS mechanism_code, mechanism.mechanism_id, mechanism.body_id AS issuer_id,
       mechanism.requires_declaration, mechanism.validity_months,
       CASE WHEN mechanism.code = 'EUR' THEN 'T' ELSE 'E' END AS main_kind,
       CASE WHEN mechanism.code = 'EUR' THEN 3 * n + 3 ELSE 3 * n + 1 END AS main_stream,
       3 * n + 2 AS carbon_stream,
       CASE mechanism.code WHEN 'CCER' THEN 'C' WHEN 'EUR' THEN 'T' ELSE 'E' END AS bearing_kind,
       CASE mechanism.code WHEN 'CCER' THEN 3 * n + 2 WHEN 'EUR' THEN 3 * n + 3
                           ELSE 3 * n + 1 END AS bearing_stream,
       CASE WHEN mechanism.code = 'EUR' THEN 'energy_saving'
            WHEN n % 2 = 0 OR mechanism.code = 'CCER' THEN 'wind' ELSE 'solar' END AS technology,
       (ARRAY['CN-NM', 'CN-GS', 'CN-XJ', 'CN-HE', 'CN-SD', 'CN-JS', 'CN-YN', 'CN-QH'])[n % 8 + 1]
           AS province,
       n / {projects_per_owner} AS owner_n,
       6 + n / {projects_per_owner} AS owner_id,  -- organisation and user
       1 + n / {projects_per_owner} AS owner_account,
       (row_number() OVER (PARTITION BY mechanism.requires_declaration ORDER BY n) - 1)
           AS declaration_rank,
       TIMESTAMPTZ '{registered_from}' + pg_temp.jitter(n) AS registered_at
FROM generate_series(0, {projects} - 1) AS n
JOIN rpt_mechanism AS mechanism
  ON mechanism.code = CASE WHEN n % 10 < 6 THEN 'GEC' WHEN n % 10 < 8 THEN 'IREC'
                           WHEN n % 10 = 8 THEN 'CCER' ELSE 'EUR' END;

CREATE TEMP TABLE rpt_declaration AS
SELECT 1 + year.declaration_year * {declaring_projects} + project.declaration_rank
           AS declaration_id,
       project.project_id, project.code, project.main_stream, project.main_kind,
       project.owner_id, project.owner_n, year.period_start, year.period_end,
       year.period_start - interval '20 days' + pg_temp.jitter(project.n) AS signed_at,
       'Declaration of no double counting (template {template_version}).' || E'\n'
       || 'I, rpt-owner-' || project.owner_n || ', acting for Report bench owner '
       || project.owner_n || ', declare that the output of stream ' || project.code || '-'
       || project.main_kind || ' of project ' || project.code || ' (Report bench project '
       || project.n || ') for the period '
       || to_char(year.period_start AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS') || '+00:00'
       || ' to '
       || to_char(year.period_end AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS') || '+00:00'
       || ' (UTC) is not and will not be registered, issued or claimed under any mechanism or '
       || 'registry other than as recorded in this registry.' || E'\n'
       || 'Registrations elsewhere that I know of: -.' AS text
FROM rpt_project AS project
CROSS JOIN (
    SELECT declaration_year, min(period_start) AS period_start, max(period_end) AS period_end
    FROM rpt_month GROUP BY declaration_year
) AS year
WHERE project.requires_declaration;

CREATE TEMP TABLE rpt_record AS
WITH metered AS (
    SELECT project.n, project.project_id, project.code, project.main_stream, project.main_kind,
           project.issuer_id, month.m, month.period_start, month.period_end, month.vintage,
           month.declaration_year,
           (CASE WHEN project.main_kind = 'T'
                 THEN 100000 + (project.n * 7919 + month.m * 104729 + project.n * month.m * 31)
                      % 4900000
                 ELSE 100000 + (project.n * 7919 + month.m * 104729 + project.n * month.m * 31)
                      % 19900000
            END)::numeric(20, 6) / 1000 AS quantity
    FROM rpt_project AS project CROSS JOIN rpt_month AS month
), summed AS (
    SELECT metered.*, sum(quantity) OVER (PARTITION BY n ORDER BY m) AS total
    FROM metered
)
SELECT summed.*,
       row_number() OVER (ORDER BY m, n) - 1 AS ordinal,
       (floor(total) - floor(total - quantity))::bigint AS units,
       (1 + floor(total - quantity))::bigint AS lower,
       (1 + floor(total))::bigint AS upper,
       (total - quantity) - floor(total - quantity) AS carried_in,
       total - floor(total) AS carried_out,
       period_end + interval '2 days' + pg_temp.jitter(n) AS recorded_at
FROM summed;

CREATE TEMP TABLE rpt_claim AS
WITH issued AS (
    SELECT record.*, record.ordinal AS i, record.ordinal + 1 AS record_id,
           project.mechanism_code, project.mechanism_id, project.requires_declaration,
           project.validity_months, project.carbon_stream, project.bearing_kind,
           project.bearing_stream, project.owner_id, project.owner_n, project.owner_account,
           project.declaration_rank, project.issuer_id AS issuer,
           CASE WHEN record.ordinal % 4 = 1 THEN record.units - record.units / 10
                ELSE record.units END AS claimed,
           count(*) FILTER (WHERE project.mechanism_code = 'CCER')
               OVER (ORDER BY record.ordinal) AS ccer_through
    FROM rpt_record AS record
    JOIN rpt_project AS project USING (n)
    WHERE record.ordinal < {claims}
), derived AS (
    SELECT issued.*,
           CASE WHEN mechanism_code = 'CCER' THEN 1 ELSE 0 END AS is_ccer,
           CASE WHEN mechanism_code = 'CCER'
                THEN trunc(claimed * {conversion_factor}::numeric, 6) END AS derived_quantity,
           sum(trunc(claimed * {conversion_factor}::numeric, 6))
               FILTER (WHERE mechanism_code = 'CCER')
               OVER (PARTITION BY n ORDER BY m) AS derived_total
    FROM issued
), numbered AS (
    SELECT derived.*,
           ccer_through - is_ccer AS ccer_before,
           1 + i + ccer_through - is_ccer AS claim_id,
           CASE WHEN is_ccer = 1 THEN 2 + i + ccer_through - is_ccer END AS derived_claim_id,
           CASE WHEN is_ccer = 1 THEN {records} + ccer_through END AS derived_record_id,
           (floor(derived_total) - floor(derived_total - derived_quantity))::bigint
               AS derived_units,
           (1 + floor(derived_total - derived_quantity))::bigint AS derived_lower,
           (1 + floor(derived_total))::bigint AS derived_upper,
           (derived_total - derived_quantity) - floor(derived_total - derived_quantity)
               AS derived_carried_in,
           derived_total - floor(derived_total) AS derived_carried_out,
           CASE WHEN requires_declaration
                THEN 1 + declaration_year * {declaring_projects} + declaration_rank
           END AS declaration_id,
           CASE WHEN validity_months IS NOT NULL
                THEN ((period_end AT TIME ZONE 'Asia/Shanghai')
                      + make_interval(months => validity_months)) AT TIME ZONE 'Asia/Shanghai'
           END AS expires_at,
           period_end + interval '10 days' + pg_temp.jitter(n + 17) AS issued_at,
           CASE WHEN i = {claims} - 1 THEN {last_claim_blocks} ELSE 1 + i % {cycle} END
               AS block_count,
           {cycle_blocks} * (i / {cycle}) + (i % {cycle}) * (i % {cycle} + 1) / 2
               AS blocks_before
    FROM derived
)
SELECT numbered.*,
       coalesce(derived_claim_id, claim_id) AS bearing_claim_id,
       coalesce(derived_record_id, record_id) AS bearing_record_id,
       CASE WHEN is_ccer = 1 THEN derived_lower ELSE lower END AS bearing_lower,
       CASE WHEN is_ccer = 1 THEN derived_units ELSE claimed END AS bearing_quantity
FROM numbered;

CREATE TEMP TABLE rpt_block AS
WITH split AS (
    SELECT claim.i, part.j, 1 + claim.blocks_before + part.j AS block_id,
           claim.bearing_claim_id AS claim_id, claim.mechanism_id, claim.mechanism_code,
           claim.bearing_stream AS stream_id, claim.bearing_kind, claim.code, claim.vintage,
           claim.expires_at, claim.owner_id, claim.owner_n, claim.owner_account, claim.issued_at,
           claim.bearing_lower + (part.j * claim.bearing_quantity) / claim.block_count AS lower,
           claim.bearing_lower + ((part.j + 1) * claim.bearing_quantity) / claim.block_count
               AS upper,
           CASE WHEN part.j = 0 THEN NULL ELSE (claim.i * 7 + part.j * 13) % {traders} END
               AS trader_n,
           CASE WHEN part.j = 0 THEN CASE WHEN claim.i % 20 = 3 THEN 'frozen' ELSE 'active' END
                WHEN (claim.i + part.j) % 10 < 5 THEN 'retired'
                WHEN (claim.i + part.j) % 10 = 5 THEN 'cancelled'
                WHEN (claim.i + part.j) % 10 = 6 THEN 'frozen'
                ELSE 'active' END AS raw_status,
           CASE WHEN part.j = 0 THEN NULL
                ELSE 1 + claim.blocks_before - claim.i + part.j - 1 END AS transfer_id,
           claim.issued_at + interval '5 days' + part.j * interval '1 hour'
               + pg_temp.jitter(claim.i) AS moved_at
    FROM rpt_claim AS claim
    CROSS JOIN LATERAL generate_series(0, claim.block_count - 1) AS part (j)
)
SELECT split.*,
       upper - lower AS quantity,
       CASE WHEN raw_status IN ('active', 'frozen') AND expires_at <= TIMESTAMPTZ '{now}'
            THEN 'expired' ELSE raw_status END AS status,
       CASE WHEN j = 0 THEN owner_account ELSE 1 + {owners} + trader_n END AS account_id,
       CASE WHEN j = 0 THEN owner_id ELSE 6 + {owners} + trader_n END AS holder_id,
       CASE WHEN raw_status = 'retired'
            THEN count(*) FILTER (WHERE raw_status = 'retired') OVER (ORDER BY block_id)
       END AS retirement_id,
       CASE WHEN raw_status = 'cancelled'
            THEN count(*) FILTER (WHERE raw_status = 'cancelled') OVER (ORDER BY block_id)
       END AS cancellation_id,
       CASE WHEN j > 0 THEN gen_random_uuid() END AS transfer_uuid,
       CASE WHEN raw_status IN ('retired', 'cancelled') THEN gen_random_uuid() END AS final_uuid,
       CASE WHEN j = 0 THEN issued_at + interval '15 days' ELSE moved_at + interval '10 days' END
           AS frozen_at,
       moved_at + interval '30 days' AS retired_at,
       moved_at + interval '20 days' AS cancelled_at
FROM split;
"""

INSERT_SQL: list[tuple[str, str]] = [
    (
        "organisations, users, accounts",
        r"""
INSERT INTO accounts_organisation (id, code, name, kind, country, created_at)
SELECT 1, 'rpt-regulator', 'Report bench registry operator', 'regulator', 'CN',
       TIMESTAMPTZ '{registered_from}' - interval '30 days'
UNION ALL
SELECT body_id, 'rpt-body-' || lower(code), issuing_body_name || ' (report bench)',
       'issuing_body', 'CN', TIMESTAMPTZ '{registered_from}' - interval '30 days'
FROM rpt_mechanism
UNION ALL
SELECT 6 + n, 'rpt-owner-' || n, 'Report bench owner ' || n, 'project_owner', 'CN',
       TIMESTAMPTZ '{registered_from}' - interval '20 days' + pg_temp.jitter(n)
FROM generate_series(0, {owners} - 1) AS n
UNION ALL
SELECT 6 + {owners} + n, 'rpt-trader-' || n,
       CASE WHEN n % 2 = 0 THEN '绿能买家 ' || n || ' 有限公司'
            ELSE 'Green buyer ' || n || ' Ltd' END,
       'trader', 'CN', TIMESTAMPTZ '{registered_from}' - interval '10 days' + pg_temp.jitter(n)
FROM generate_series(0, {traders} - 1) AS n;

INSERT INTO accounts_user (id, password, is_superuser, username, first_name, last_name, email,
                           is_staff, is_active, date_joined, role, organisation_id)
SELECT id, '!', false, replace(code, 'rpt-', 'rpt-user-'), '', '', '', kind = 'regulator',
       true, created_at,
       CASE kind WHEN 'regulator' THEN 'administrator' WHEN 'issuing_body' THEN 'issuer'
                 WHEN 'project_owner' THEN 'project_owner' ELSE 'holder' END,
       id
FROM accounts_organisation;

INSERT INTO accounts_holdingaccount (id, number, name, status, created_at, organisation_id)
SELECT 1 + n, 'RPT-O-' || lpad(n::text, 7, '0'), 'Report bench owner ' || n || ' account',
       'active', TIMESTAMPTZ '{registered_from}' - interval '20 days' + pg_temp.jitter(n), 6 + n
FROM generate_series(0, {owners} - 1) AS n
UNION ALL
SELECT 1 + {owners} + n, 'RPT-B-' || lpad(n::text, 7, '0'),
       'Report bench trader ' || n || ' account', 'active',
       TIMESTAMPTZ '{registered_from}' - interval '10 days' + pg_temp.jitter(n), 6 + {owners} + n
FROM generate_series(0, {traders} - 1) AS n;

INSERT INTO registry_mechanism_issuing_bodies (mechanism_id, organisation_id)
SELECT mechanism_id, body_id FROM rpt_mechanism;
""",
    ),
    (
        "projects, streams, declarations",
        r"""
-- Names (part of an md5 of the code) and capacities (10 to 499 MW) vary as in a real
-- registry, so that the report's likely-twin search meets the rare twins of a real registry,
-- not a registry where every plant is a numbered twin of every other.
INSERT INTO registry_project (id, code, name, country, province, grid_region, technology,
                              capacity_mw, commissioning_date, time_zone, subsidised,
                              inside_ets_boundary, under_energy_use_rights, national_code,
                              possible_duplicates, status, registered_at, owner_id)
SELECT project_id, code, 'Bench ' || substr(md5(code), 1, 16), 'CN', province, 'North',
       technology, 10 + (n * 37) % 490, DATE '2020-01-01', 'Asia/Shanghai', false, false,
       mechanism_code = 'EUR', 'BENCH-' || code, '[]'::jsonb, 'approved', registered_at,
       owner_id
FROM rpt_project;

INSERT INTO registry_projectidentifier (project_id, registry, identifier, live)
SELECT project_id, 'IREC', 'DEV' || code, true FROM rpt_project WHERE mechanism_code = 'IREC';

INSERT INTO registry_stream (id, unit_kind, next_sequence, carried_remainder, project_id)
SELECT 3 * n + kind.position, kind.unit_kind, 1, 0, project_id
FROM rpt_project
CROSS JOIN (VALUES (1, 'E'), (2, 'C'), (3, 'T')) AS kind (position, unit_kind);

INSERT INTO registry_declaration (id, period, template_version, language, text, text_sha256,
                                  other_registrations, signed_at, revoked_at, signer_id,
                                  project_id, stream_id)
SELECT declaration_id, tstzrange(period_start, period_end, '[)'), '{template_version}', 'en',
       text, encode(sha256(convert_to(text, 'UTF8')), 'hex'), '[]'::jsonb, signed_at, NULL,
       owner_id, project_id, main_stream
FROM rpt_declaration;
""",
    ),
    (
        "production records",
        r"""
INSERT INTO registry_productionrecord (id, period, quantity, carried_in, carried_out, units,
                                       serials, vintage, source, created_at, entered_by_id,
                                       stream_id)
SELECT ordinal + 1, tstzrange(period_start, period_end, '[)'), quantity, carried_in,
       carried_out, units, int8range(lower, upper), vintage, 'metered', recorded_at, issuer_id,
       main_stream
FROM rpt_record
ORDER BY ordinal;

INSERT INTO registry_productionrecord (id, period, quantity, carried_in, carried_out, units,
                                       serials, vintage, source, created_at, entered_by_id,
                                       stream_id)
SELECT derived_record_id, tstzrange(period_start, period_end, '[)'), derived_quantity,
       derived_carried_in, derived_carried_out, derived_units,
       int8range(derived_lower, derived_upper), vintage, 'derived', issued_at, issuer,
       carbon_stream
FROM rpt_claim
WHERE is_ccer = 1
ORDER BY derived_record_id;
""",
    ),
    (
        "unit claims",
        r"""
INSERT INTO registry_unitclaim (id, serials, quantity, vintage, role, conversion_factor,
                                conversion_source, status, expires_at, issued_at, revoked_at,
                                revocation_reason, account_id, issued_by_id, mechanism_id,
                                production_record_id, source_claim_id, stream_id, declaration_id,
                                split_from_id)
SELECT claim_id, int8range(lower, lower + claimed), claimed, vintage,
       CASE WHEN is_ccer = 1 THEN 'source' ELSE 'direct' END, NULL, '', 'live',
       CASE WHEN is_ccer = 1 THEN NULL ELSE expires_at END, issued_at, NULL::timestamptz, '',
       owner_account, issuer, mechanism_id, record_id, NULL::bigint, main_stream,
       declaration_id, NULL::bigint
FROM rpt_claim
UNION ALL
SELECT derived_claim_id, int8range(derived_lower, derived_upper), derived_units, vintage,
       'derived', {conversion_factor}, '{conversion_source}', 'live', expires_at, issued_at,
       NULL::timestamptz, '', owner_account, issuer, mechanism_id, derived_record_id, claim_id,
       carbon_stream, declaration_id, NULL::bigint
FROM rpt_claim
WHERE is_ccer = 1
ORDER BY 1;
""",
    ),
    (
        "transfers, retirements, cancellations",
        r"""
INSERT INTO tracking_transfer (id, public_id, quantity, serial_ranges, idempotency_key,
                               created_at, actor_id, mechanism_id, source_account_id,
                               target_account_id)
SELECT transfer_id, transfer_uuid, quantity, jsonb_build_array(jsonb_build_array(stream_id,
       lower, upper)), NULL, moved_at, owner_id, mechanism_id, owner_account, account_id
FROM rpt_block
WHERE j > 0
ORDER BY transfer_id;

INSERT INTO tracking_retirement (id, public_id, quantity, beneficiary_name,
                                 beneficiary_organisation, purpose, claim_period_start,
                                 claim_period_end, location, reporting_year, created_at,
                                 account_id, actor_id, mechanism_id, event_id)
SELECT retirement_id, final_uuid, quantity,
       CASE WHEN block_id % 2 = 0 THEN '上海绿色制造 ' || trader_n || ' 号工厂'
            ELSE 'Shanghai green factory no. ' || trader_n END,
       CASE WHEN block_id % 2 = 0 THEN '绿能买家 ' || trader_n || ' 有限公司'
            ELSE 'Green buyer ' || trader_n || ' Ltd' END,
       CASE WHEN mechanism_code = 'CCER' THEN 'voluntary_neutrality'
            WHEN mechanism_code = 'EUR' THEN 'renewable_quota'
            ELSE 'scope2_electricity' END,
       to_date(vintage::text, 'YYYYMM'),
       (to_date(vintage::text, 'YYYYMM') + interval '1 month' - interval '1 day')::date,
       (ARRAY['CN-SH', 'CN-GD', 'CN-ZJ', 'CN-BJ'])[trader_n % 4 + 1], vintage / 100,
       retired_at, account_id, holder_id, mechanism_id, NULL
FROM rpt_block
WHERE raw_status = 'retired'
ORDER BY retirement_id;

INSERT INTO tracking_cancellation (id, public_id, quantity, reason, created_at, account_id,
                                   actor_id, claim_id, mechanism_id)
SELECT cancellation_id, final_uuid, quantity, 'Cancelled by the holder', cancelled_at,
       account_id, holder_id, NULL, mechanism_id
FROM rpt_block
WHERE raw_status = 'cancelled'
ORDER BY cancellation_id;
""",
    ),
    (
        "blocks",
        r"""
INSERT INTO tracking_block (id, serials, quantity, vintage, status, transfer_count, expires_at,
                            account_id, claim_id, mechanism_id, stream_id, cancellation_id,
                            retirement_id)
SELECT block_id, int8range(lower, upper), quantity, vintage, status,
       CASE WHEN j = 0 THEN 0 ELSE 1 END, expires_at, account_id, claim_id, mechanism_id,
       stream_id, cancellation_id, retirement_id
FROM rpt_block
ORDER BY block_id;
""",
    ),
    (
        "stream counters",
        r"""
UPDATE registry_stream AS stream
SET next_sequence = last.upper, carried_remainder = last.carried_out
FROM (
    (SELECT DISTINCT ON (main_stream) main_stream AS stream_id, upper, carried_out
     FROM rpt_record ORDER BY main_stream, m DESC)
    UNION ALL
    (SELECT DISTINCT ON (carbon_stream) carbon_stream, derived_upper, derived_carried_out
     FROM rpt_claim WHERE is_ccer = 1 ORDER BY carbon_stream, m DESC)
) AS last
WHERE stream.id = last.stream_id;
""",
    ),
]

# Every event as the services write it: (occurred_at, kind, actor, subjects, payload), in time
# order. Payload numbers are integers; decimals and times are strings, as json_default writes.
EVENTS_SQL = r"""
SELECT occurred_at, kind, actor_id, subjects, payload::text FROM (
SELECT registered_at AS occurred_at, 'project.registered' AS kind, 1 AS actor_id,
       ARRAY['project:' || project_id, 'organisation:' || owner_id] AS subjects,
       jsonb_build_object('project', code, 'name', 'Bench ' || substr(md5(code), 1, 16),
                          'owner', 'rpt-owner-' || owner_n, 'province', province,
                          'technology', technology,
                          'capacity_mw', (10 + (n * 37) % 490)::text,
                          'commissioning_date', '2020-01-01', 'status', 'approved',
                          'national_code', 'BENCH-' || code, 'latitude', NULL,
                          'longitude', NULL, 'meters', '[]'::jsonb,
                          'identifiers',
                          CASE WHEN mechanism_code = 'IREC'
                               THEN jsonb_build_object('IREC', 'DEV' || code)
                               ELSE '{{}}'::jsonb END,
                          'possible_duplicates', '[]'::jsonb) AS payload
FROM rpt_project
UNION ALL
SELECT signed_at, 'declaration.signed', owner_id,
       ARRAY['project:' || project_id, 'declaration:' || declaration_id],
       jsonb_build_object('declaration', declaration_id, 'project', code, 'stream', main_stream,
                          'period', jsonb_build_array(pg_temp.iso(period_start),
                                                      pg_temp.iso(period_end)),
                          'text_sha256', encode(sha256(convert_to(text, 'UTF8')), 'hex'),
                          'template_version', '{template_version}')
FROM rpt_declaration
UNION ALL
SELECT recorded_at, 'production.recorded', issuer_id,
       ARRAY['project:' || project_id, 'stream:' || main_stream, 'record:' || (ordinal + 1)],
       jsonb_build_object('record', ordinal + 1, 'project', code, 'stream', main_stream,
                          'unit_kind', main_kind,
                          'period', jsonb_build_array(pg_temp.iso(period_start),
                                                      pg_temp.iso(period_end)),
                          'quantity', quantity::text, 'carried_in', carried_in::text,
                          'carried_out', carried_out::text, 'units', units,
                          'serials', jsonb_build_array(lower, upper), 'vintage', vintage,
                          'source', 'metered')
FROM rpt_record
UNION ALL
SELECT issued_at, 'units.issued', issuer,
       ARRAY['claim:' || bearing_claim_id, 'account:' || owner_account,
             'project:' || project_id, 'record:' || record_id],
       jsonb_build_object('claim', bearing_claim_id, 'mechanism', mechanism_code,
                          'account', 'RPT-O-' || lpad(owner_n::text, 7, '0'),
                          'quantity', bearing_quantity,
                          'serials', pg_temp.serial_text(code, bearing_kind, vintage,
                                                         bearing_lower,
                                                         bearing_lower + bearing_quantity),
                          'declaration', declaration_id)
       || CASE WHEN is_ccer = 1 THEN jsonb_build_object(
              'derived_from', jsonb_build_object(
                  'claim', claim_id,
                  'serials', pg_temp.serial_text(code, main_kind, vintage, lower,
                                                 lower + claimed),
                  'factor', '{conversion_factor}', 'factor_source', '{conversion_source}'))
          ELSE '{{}}'::jsonb END
FROM rpt_claim
UNION ALL
SELECT issued_at + interval '1 hour', 'attempt.refused', 2 + (issuer - 1) % 4,
       ARRAY['refused:double_claim'],
       jsonb_build_object(
           'operation', 'unit_claim_issue', 'code', 'double_claim',
           'message', 'Units are already claimed as ' || mechanism_code || ' by claim '
                      || bearing_claim_id || '.',
           'details', jsonb_build_object(
               'rule', 'R1',
               'existing_claim', jsonb_build_object(
                   'id', bearing_claim_id, 'mechanism', mechanism_code,
                   'role', CASE WHEN is_ccer = 1 THEN 'source' ELSE 'direct' END,
                   'holder_account', 'RPT-O-' || lpad(owner_n::text, 7, '0'),
                   'holder_organisation', 'rpt-owner-' || owner_n),
               'overlap', jsonb_build_object(
                   'stream', main_stream, 'lower', lower, 'upper', lower + claimed,
                   'serials', pg_temp.serial_text(code, main_kind, vintage, lower,
                                                  lower + claimed))),
           'attempted', jsonb_build_object('production_record', record_id,
                                           'quantity', claimed))
FROM rpt_claim
WHERE i % 200 = 7
UNION ALL
SELECT issued_at - interval '1 day', 'attempt.refused', issuer,
       ARRAY['refused:rule_violation'],
       jsonb_build_object(
           'operation', 'unit_claim_issue', 'code', 'rule_violation',
           'message', mechanism_code || ' requires a valid declaration of no double counting '
                      || 'covering production record ' || record_id || ' (R13).',
           'details', jsonb_build_object(
               'rule', 'R13',
               'facts', jsonb_build_object(
                   'reason', 'declaration_missing', 'record', record_id,
                   'period', jsonb_build_array(pg_temp.iso(period_start),
                                               pg_temp.iso(period_end)),
                   'revoked_declaration', NULL)),
           'attempted', jsonb_build_object('production_record', record_id,
                                           'quantity', claimed))
FROM rpt_claim
WHERE requires_declaration AND i % 500 = 11
UNION ALL
SELECT moved_at, 'units.transferred', owner_id,
       ARRAY['transfer:' || transfer_id, 'account:' || owner_account, 'account:' || account_id,
             'claim:' || claim_id],
       jsonb_build_object('transfer', transfer_uuid::text, 'mechanism', mechanism_code,
                          'from', 'RPT-O-' || lpad(owner_n::text, 7, '0'),
                          'to', 'RPT-B-' || lpad(trader_n::text, 7, '0'), 'quantity', quantity,
                          'ranges', jsonb_build_array(jsonb_build_object(
                              'block', block_id, 'claim', claim_id,
                              'serials', pg_temp.serial_text(code, bearing_kind, vintage, lower,
                                                             upper))))
FROM rpt_block
WHERE j > 0
UNION ALL
SELECT frozen_at, 'block.status', 1,
       ARRAY['block:' || block_id, 'claim:' || claim_id, 'account:' || account_id],
       jsonb_build_object('block', block_id, 'range', jsonb_build_array(lower, upper),
                          'from', 'active', 'to', 'frozen',
                          'reason', 'Frozen while a metering dispute is investigated')
FROM rpt_block
WHERE raw_status = 'frozen'
UNION ALL
SELECT retired_at, 'units.retired', holder_id,
       ARRAY['retirement:' || retirement_id, 'account:' || account_id, 'claim:' || claim_id],
       jsonb_build_object(
           'retirement', final_uuid::text, 'mechanism', mechanism_code,
           'account', 'RPT-B-' || lpad(trader_n::text, 7, '0'), 'quantity', quantity,
           'beneficiary', CASE WHEN block_id % 2 = 0 THEN '上海绿色制造 ' || trader_n || ' 号工厂'
                               ELSE 'Shanghai green factory no. ' || trader_n END,
           'beneficiary_organisation',
               CASE WHEN block_id % 2 = 0 THEN '绿能买家 ' || trader_n || ' 有限公司'
                    ELSE 'Green buyer ' || trader_n || ' Ltd' END,
           'purpose', CASE WHEN mechanism_code = 'CCER' THEN 'voluntary_neutrality'
                           WHEN mechanism_code = 'EUR' THEN 'renewable_quota'
                           ELSE 'scope2_electricity' END,
           'claim_period', jsonb_build_array(
               to_char(to_date(vintage::text, 'YYYYMM'), 'YYYY-MM-DD'),
               to_char(to_date(vintage::text, 'YYYYMM') + interval '1 month' - interval '1 day',
                       'YYYY-MM-DD')),
           'location', (ARRAY['CN-SH', 'CN-GD', 'CN-ZJ', 'CN-BJ'])[trader_n % 4 + 1],
           'reporting_year', vintage / 100,
           'ranges', jsonb_build_array(jsonb_build_object(
               'block', block_id, 'claim', claim_id,
               'serials', pg_temp.serial_text(code, bearing_kind, vintage, lower, upper))))
FROM rpt_block
WHERE raw_status = 'retired'
UNION ALL
SELECT cancelled_at, 'units.cancelled', holder_id,
       ARRAY['cancellation:' || cancellation_id, 'account:' || account_id,
             'claim:' || claim_id],
       jsonb_build_object(
           'cancellation', final_uuid::text, 'mechanism', mechanism_code,
           'account', 'RPT-B-' || lpad(trader_n::text, 7, '0'), 'quantity', quantity,
           'reason', 'Cancelled by the holder',
           'ranges', jsonb_build_array(jsonb_build_object(
               'block', block_id, 'claim', claim_id,
               'serials', pg_temp.serial_text(code, bearing_kind, vintage, lower, upper))))
FROM rpt_block
WHERE raw_status = 'cancelled'
UNION ALL
SELECT expiry_run + batch * interval '1 second', 'units.expired', NULL,
       (array_agg('block:' || block_id ORDER BY block_id))[1:1000],
       jsonb_build_object('as_of', pg_temp.iso(expiry_run),
                          'blocks', jsonb_agg(block_id ORDER BY block_id),
                          'quantity', sum(quantity))
FROM (
    -- units_expire runs a little after the units fall due, in batches of EXPIRY_BATCH
    SELECT block_id, quantity, expires_at,
           least(expires_at + interval '2 hours', TIMESTAMPTZ '{now}' - interval '1 hour')
               AS expiry_run,
           (row_number() OVER (PARTITION BY expires_at ORDER BY block_id) - 1) / {expiry_batch}
               AS batch
    FROM rpt_block
    WHERE status = 'expired'
) AS expired
GROUP BY expires_at, expiry_run, batch
) AS events
ORDER BY occurred_at
"""


@dataclass
class Generation:
    """What generation wrote and how long each step took (seconds)."""

    plan: Plan
    steps: list[tuple[str, float]] = field(default_factory=list)
    events: int = 0
    checkpoints: int = 0

    @property
    def seconds(self) -> float:
        return sum(seconds for _label, seconds in self.steps)


def _format(sql: str, plan: Plan, now: dt.datetime, declaring_projects: int) -> str:
    return sql.format(
        first_month=plan.first_month.isoformat(sep=" "),
        months=MONTHS,
        mechanism_values=", ".join(
            f"('{code}', {position})" for position, code in enumerate(MECHANISMS)
        ),
        alphabet=PROJECT_CODE_ALPHABET,
        projects=plan.projects,
        projects_per_owner=PROJECTS_PER_OWNER,
        registered_from=(
            dt.datetime.combine(plan.first_month.date(), dt.time(), SHANGHAI)
            - dt.timedelta(days=60)
        ).isoformat(),
        declaring_projects=declaring_projects,
        template_version=DECLARATION_TEMPLATE_VERSION,
        claims=plan.claims,
        records=plan.projects * MONTHS,
        conversion_factor=CONVERSION_FACTOR,
        conversion_source=CONVERSION_SOURCE,
        last_claim_blocks=plan.last_claim_blocks,
        cycle=BLOCK_CYCLE,
        cycle_blocks=BLOCKS_PER_CYCLE,
        traders=plan.traders,
        owners=plan.owners,
        now=now.isoformat(),
        expiry_batch=EXPIRY_BATCH,
    )


# Project codes: "R" and five base-32 digits (the alphabet of registry serial codes).
PROJECT_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


def declaring_project_count(plan: Plan, requiring: set[str]) -> int:
    """Projects whose mechanism requires a declaration (the mix is by ``n % 10``)."""
    mix = ["GEC"] * 6 + ["IREC"] * 2 + ["CCER", "EUR"]
    return sum(1 for n in range(plan.projects) if mix[n % 10] in requiring)


def _timed(generation: Generation, say: Say, label: str, work: Callable[[], object]) -> None:
    began = time.monotonic()
    work()
    seconds = time.monotonic() - began
    generation.steps.append((label, seconds))
    say(f"    {label:40s} {seconds:7.1f} s")


def registry_is_empty(cursor) -> bool:
    for table in GENERATED_TABLES:
        cursor.execute(f"SELECT EXISTS (SELECT 1 FROM {table})")
        if cursor.fetchone()[0]:
            return False
    return True


def generated_blocks() -> int | None:
    """Blocks of a registry this benchmark generated earlier in this database, else None."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT EXISTS (SELECT 1 FROM accounts_organisation WHERE code = %s)",
            [MARKER_ORGANISATION],
        )
        if not cursor.fetchone()[0]:
            return None
        cursor.execute("SELECT count(*) FROM tracking_block")
        return cursor.fetchone()[0]


def generate(blocks: int, say: Say) -> Generation:
    """Fill the (empty) registry tables with a consistent registry of ``blocks`` blocks."""
    from bench.common import raw_connection
    from registry.models import Mechanism

    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    plan = Plan.of(blocks, today=now)
    requiring = set(
        Mechanism.objects.filter(code__in=MECHANISMS, requires_declaration=True).values_list(
            "code", flat=True
        )
    )
    missing = set(MECHANISMS) - set(
        Mechanism.objects.filter(code__in=MECHANISMS).values_list("code", flat=True)
    )
    if missing:
        raise RuntimeError(f"mechanisms {sorted(missing)} are not seeded in this database")
    declaring = declaring_project_count(plan, requiring)
    generation = Generation(plan)
    say(
        f"  generating: {plan.projects:,} projects x {MONTHS} months, {plan.claims:,} issued "
        f"records, {plan.blocks:,} blocks, {plan.owners:,} owners, {plan.traders:,} traders; "
        f"periods from {plan.first_month:%Y-%m} (Asia/Shanghai)"
    )
    connection = raw_connection()
    try:
        connection.execute("SET work_mem = '256MB'")
        connection.execute("SET synchronous_commit = off")
        cursor = connection.cursor()
        if not registry_is_empty(cursor):
            raise RuntimeError("the registry tables must be empty before generation")
        connection.commit()

        def run(sql: str) -> None:
            cursor.execute(_format(sql, plan, now, declaring))
            connection.commit()

        _timed(generation, say, "plan (temporary tables)", lambda: run(PLAN_SQL))
        for label, sql in INSERT_SQL:
            _timed(generation, say, label, lambda sql=sql: run(sql))
        _timed(generation, say, "identity sequences", lambda: _move_sequences(connection))

        def load_events() -> None:
            generation.events = _load_ledger(connection, _format(EVENTS_SQL, plan, now, 0))

        _timed(generation, say, "ledger events (hash in Python, COPY)", load_events)
    finally:
        connection.close()

    def seal() -> None:
        generation.checkpoints = _seal_everything()

    _timed(generation, say, "ledger checkpoint (registry.ledger.seal)", seal)
    _timed(generation, say, "VACUUM ANALYZE", _vacuum_analyze)
    return generation


def _move_sequences(connection) -> None:
    """Identity sequences past the identifiers the plan assigned."""
    for table in GENERATED_TABLES:
        if table == "registry_checkpoint":
            continue
        connection.execute(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
            f"coalesce((SELECT max(id) FROM {table}), 0) + 1, false)"
        )
    connection.commit()


def _load_ledger(reader, events_sql: str) -> int:
    """Stream the events from SQL, hash each as ``registry.ledger.record_event`` does and COPY
    them into the ledger in batches of ``EVENT_BATCH``, one transaction each (the ledger's
    trigger stamps each batch's transaction id).

    Payloads come as text and are parsed once, for the hash; the text itself is what COPY
    stores (JSONB keeps the same value whatever the spacing and key order of its input).
    """
    from bench.common import raw_connection
    from registry.ledger import event_hash

    writer = raw_connection()
    copy_sql = (
        "COPY registry_ledgerevent (kind, actor_id, occurred_at, subjects, payload, event_hash) "
        "FROM STDIN"
    )
    written = 0
    try:
        # A server-side cursor is planned for its first rows unless told otherwise; all of
        # them are wanted here.
        reader.execute("SET cursor_tuple_fraction = 1.0")
        with reader.cursor(name="rpt_events") as events:
            events.itersize = 20_000
            events.execute(events_sql)
            rows = iter(events)
            exhausted = False
            while not exhausted:
                in_batch = 0
                with writer.cursor() as cursor, cursor.copy(copy_sql) as copy:
                    for occurred_at, kind, actor_id, subjects, payload_text in rows:
                        digest = event_hash(
                            kind=kind,
                            actor_id=actor_id,
                            occurred_at=occurred_at,
                            subjects=subjects,
                            payload=json.loads(payload_text),
                        )
                        copy.write_row(
                            (kind, actor_id, occurred_at, subjects, payload_text, digest)
                        )
                        in_batch += 1
                        if in_batch == EVENT_BATCH:
                            break
                    else:
                        exhausted = True
                writer.commit()
                written += in_batch
        reader.commit()
    finally:
        writer.close()
    return written


def _seal_everything(timeout: float = 120.0) -> int:
    """Seal checkpoints until every event is sealed (a transaction still open elsewhere on the
    server holds the boundary back; then wait for it). Returns the number of checkpoints."""
    from registry.ledger import seal
    from registry.models import Checkpoint, LedgerEvent

    deadline = time.monotonic() + timeout
    while True:
        seal()
        last = Checkpoint.objects.order_by("-sequence").first()
        unsealed = LedgerEvent.objects.filter(
            txid__gte=last.xid_to if last is not None else 0
        ).exists()
        if not unsealed:
            return Checkpoint.objects.count()
        if time.monotonic() > deadline:
            raise RuntimeError("ledger events stay unsealed: a long transaction on the server?")
        time.sleep(1.0)


def _vacuum_analyze() -> None:
    """What autovacuum would have done to a registry that grew to this size."""
    from bench.common import raw_connection

    connection = raw_connection()
    connection.autocommit = True
    try:
        for table in GENERATED_TABLES:
            connection.execute(f"VACUUM (ANALYZE) {table}")
    finally:
        connection.close()


# --------------------------------------------------------------------------------------------
# Measurement
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TableCount:
    table: str
    rows: int
    seconds: float


def count_baseline() -> list[TableCount]:
    """``SELECT count(*)`` over each table the report reads, timed one by one."""
    from bench.common import raw_connection

    connection = raw_connection()
    connection.autocommit = True
    counts = []
    try:
        for table in BASELINE_TABLES:
            began = time.perf_counter()
            rows = connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            counts.append(TableCount(table, rows, time.perf_counter() - began))
    finally:
        connection.close()
    return counts


@dataclass
class ChildRun:
    """The report's process: wall time from spawn to exit, its peak resident memory, what it
    said, and the PostgreSQL backend that served it (sampled, if its memory could be read)."""

    wall_seconds: float
    peak_rss_bytes: int
    exit_status: int
    report_id: int | None = None
    status: str = ""
    run_seconds: float = 0.0
    backend_peak_rss: int | None = None
    backend_peak_private: int | None = None
    output: str = ""


def run_report_process(database: str) -> ChildRun:
    """Run one whole-registry report in a fresh Python process (as a worker runs the task) and
    measure it: wall time from spawn to exit, and the peak resident memory it reports."""
    try:
        import psutil
    except ImportError:  # pragma: no cover - psutil is in the virtualenv
        psutil = None
    command = [sys.executable, str(Path(__file__).resolve()), "--run-report", database]
    began = time.monotonic()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    first_line = process.stdout.readline()
    backend = None
    try:
        backend_pid = json.loads(first_line)["backend_pid"]
        if psutil is not None:
            backend = psutil.Process(backend_pid)
            backend.memory_info()
    except (ValueError, KeyError, TypeError):
        backend = None
    except Exception:  # noqa: BLE001 - the server's processes may not be readable: optional
        backend = None
    peak_rss = peak_private = None
    while True:
        pid, status, _usage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            break
        if backend is not None:
            try:
                memory = backend.memory_info()
                peak_rss = max(peak_rss or 0, memory.rss)
                peak_private = max(peak_private or 0, memory.rss - memory.shared)
            except Exception:  # noqa: BLE001 - the backend ended or cannot be read
                backend = None
        time.sleep(0.05)
    wall = time.monotonic() - began
    process.returncode = os.waitstatus_to_exitcode(status)
    output = process.stdout.read()
    process.stdout.close()
    run = ChildRun(
        wall_seconds=wall,
        peak_rss_bytes=0,
        exit_status=process.returncode,
        backend_peak_rss=peak_rss,
        backend_peak_private=peak_private,
        output=first_line + output,
    )
    for line in output.splitlines():
        try:
            said = json.loads(line)
        except ValueError:
            continue
        if "report_id" in said:
            run.report_id = said["report_id"]
            run.status = said["status"]
            run.run_seconds = said["seconds"]
            run.peak_rss_bytes = said["peak_rss_bytes"]
    return run


@dataclass(frozen=True)
class CheckOutcome:
    check_id: str
    verdict: str
    examined: int
    offending: int
    seconds: float
    sample: list


def report_outcomes(report_id: int) -> tuple[list[CheckOutcome], float]:
    """Each check's verdict and time (from the previous check's completion, the first from the
    report's start), and the time after the last check (statistics, JSON and its hash)."""
    from audit.models import ReportCheck, ReportFinding, UniquenessReport

    report = UniquenessReport.objects.get(pk=report_id)
    previous = report.started_at
    outcomes = []
    for check in ReportCheck.objects.filter(report=report).order_by("position"):
        sample = list(
            ReportFinding.objects.filter(report=report, check_id=check.check_id)
            .order_by("ordinal")
            .values_list("record", flat=True)[:3]
        )
        outcomes.append(
            CheckOutcome(
                check.check_id,
                check.verdict,
                check.examined,
                check.offending,
                (check.completed_at - previous).total_seconds(),
                sample,
            )
        )
        previous = check.completed_at
    tail = (report.finished_at - previous).total_seconds() if report.finished_at else 0.0
    return outcomes, tail


# --------------------------------------------------------------------------------------------
# The child process
# --------------------------------------------------------------------------------------------


def _child(database: str) -> None:
    """Request and run one whole-registry report; print the backend pid, then the outcome."""
    sys.path[:] = [str(ROOT)] + [
        entry for entry in sys.path if Path(entry or ".").resolve() != ROOT / "bench"
    ]
    os.environ["DJANGO_SETTINGS_MODULE"] = "registry.settings"
    os.environ.setdefault("DEBUG", "false")
    import django

    django.setup()
    from django.conf import settings
    from django.db import connection

    if connection.settings_dict["NAME"] != database:
        connection.settings_dict["NAME"] = database
        settings.DATABASES["default"]["NAME"] = database
    from audit.services import uniqueness_report_request, uniqueness_report_run

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        print(json.dumps({"backend_pid": cursor.fetchone()[0]}), flush=True)
    began = time.monotonic()
    report = uniqueness_report_request(actor=None, scope={}, enqueue=lambda _report: "bench")
    finished = uniqueness_report_run(report_id=report.pk)
    seconds = time.monotonic() - began
    print(
        json.dumps(
            {
                "report_id": report.pk,
                "status": finished.status if finished is not None else "not run",
                "seconds": seconds,
                "peak_rss_bytes": _own_peak_rss(),
            }
        ),
        flush=True,
    )


def _own_peak_rss() -> int:
    """High-water resident set of this process's address space (bytes), from /proc."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status: peak memory is measured on Linux only")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--run-report":
        _child(sys.argv[2])
    else:
        sys.exit("usage: report_bench.py --run-report DATABASE (run by bench/run.py)")
