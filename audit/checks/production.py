"""Checks on production: periods (I1), serial allocation (I2), claims inside their records and
issued ≤ produced (I6), tonnes of generating and energy-saving projects only derived (I9)."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _

from audit.checks.base import Check, range_length, serial_pair, stream_label
from audit.scope import ReportScope, either
from registry.models import DERIVED_ONLY_TECHNOLOGIES


def _periods_findings(scope: ReportScope) -> tuple[str, list[Any]]:
    # Sorted by start per stream, a record overlaps an earlier one exactly when it starts before
    # the furthest end reached so far by the earlier records it may not share time with: any
    # record for a metered one; records of another source for a derived or an allocated one
    # (several derivations, or several allocations, of one period coexist: each comes from
    # distinct units). Only records found so get joined, to name what they overlap.
    streams, stream_params = scope.record_condition("record", with_vintage=False)
    in_scope, scope_params = either(
        scope.vintage_condition("later.vintage"), scope.vintage_condition("earlier.vintage")
    )
    sql = f"""
        WITH record_of_scoped_stream AS (
            SELECT record.id, record.stream_id, record.source, record.period, record.vintage,
                   lower(record.period) AS period_start,
                   coalesce(upper(record.period), 'infinity') AS period_end
            FROM registry_productionrecord AS record
            -- A correction shares the period of the record it corrects, by design.
            WHERE {streams} AND record.source <> 'correction'
        ),
        reach_of_earlier_records AS (
            SELECT scoped.*,
                   max(scoped.period_end) OVER earlier AS reach_of_any,
                   max(scoped.period_end) FILTER (WHERE scoped.source <> 'derived')
                       OVER earlier AS reach_of_non_derived,
                   max(scoped.period_end) FILTER (WHERE scoped.source <> 'allocated')
                       OVER earlier AS reach_of_non_allocated
            FROM record_of_scoped_stream AS scoped
            WINDOW earlier AS (
                PARTITION BY scoped.stream_id ORDER BY scoped.period_start, scoped.id
                ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
            )
        ),
        starting_inside_an_earlier_record AS (
            SELECT * FROM reach_of_earlier_records
            WHERE period_start < CASE source
                WHEN 'derived' THEN reach_of_non_derived
                WHEN 'allocated' THEN reach_of_non_allocated
                ELSE reach_of_any END
        )
        SELECT later.stream_id, {stream_label("stream", "project")} AS stream,
               later.id AS record_id, later.source, later.vintage,
               lower(later.period) AS period_start, upper(later.period) AS period_end,
               earlier.id AS overlaps_record_id, earlier.source AS overlaps_source,
               lower(earlier.period) AS overlaps_start, upper(earlier.period) AS overlaps_end
        FROM starting_inside_an_earlier_record AS later
        JOIN registry_productionrecord AS earlier
          ON earlier.stream_id = later.stream_id
         AND earlier.period && later.period
         AND (lower(earlier.period), earlier.id) < (later.period_start, later.id)
         AND (later.source NOT IN ('derived', 'allocated') OR earlier.source <> later.source)
         AND earlier.source <> 'correction'
        JOIN registry_stream AS stream ON stream.id = later.stream_id
        JOIN registry_project AS project ON project.id = stream.project_id
        WHERE {in_scope}
    """
    return sql, [*stream_params, *scope_params]


def _records_counts(scope: ReportScope) -> tuple[str, list[Any]]:
    condition, params = scope.record_condition("record")
    return (
        f"SELECT count(*) AS examined, count(DISTINCT record.stream_id) AS streams "
        f"FROM registry_productionrecord AS record WHERE {condition}",
        params,
    )


def _serials_findings(scope: ReportScope) -> tuple[str, list[Any]]:
    # Serials are allocated under the stream's lock, in the order of record ids: each record
    # starts where the stream's sequence stood (1, then the furthest end allocated before it),
    # takes floor(quantity + carried in) serials and carries the rest to the next record. The
    # stream row keeps the next sequence and the remainder carried. Overlaps are found as
    # periods are: sorted by first serial, a range starting before the furthest end so far.
    streams, stream_params = scope.record_condition("record", with_vintage=False)
    record_in_scope, record_params = scope.vintage_condition("checked.vintage")
    pair_in_scope, pair_params = either(
        scope.vintage_condition("later.vintage"), scope.vintage_condition("earlier.vintage")
    )
    last_in_scope, last_params = scope.vintage_condition("last_record.vintage")
    serial_count = range_length("record.serials")
    sql = f"""
        WITH record_of_scoped_stream AS (
            SELECT record.id, record.stream_id, record.vintage, record.source, record.serials,
                   record.quantity, record.carried_in, record.carried_out, record.units,
                   -- A downward correction allocates nothing and passes the fraction on.
                   greatest(record.quantity, 0) AS allocated_quantity,
                   lower(record.serials) AS serial_lower, upper(record.serials) AS serial_upper,
                   {serial_count} AS serial_count
            FROM registry_productionrecord AS record
            WHERE {streams}
        ),
        in_allocation_order AS (
            SELECT scoped.*,
                   lag(scoped.carried_out) OVER by_id AS carried_out_before,
                   max(scoped.serial_upper) OVER by_id_before AS sequence_before,
                   max(scoped.serial_upper) OVER by_first_serial_before AS reach_of_earlier_serials,
                   row_number() OVER by_id_last_first AS position_from_last,
                   coalesce(max(scoped.serial_upper) OVER (PARTITION BY scoped.stream_id), 1)
                       AS sequence_reached
            FROM record_of_scoped_stream AS scoped
            WINDOW by_id AS (PARTITION BY scoped.stream_id ORDER BY scoped.id),
                   by_id_before AS (
                       PARTITION BY scoped.stream_id ORDER BY scoped.id
                       ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
                   ),
                   by_first_serial_before AS (
                       PARTITION BY scoped.stream_id ORDER BY scoped.serial_lower, scoped.id
                       ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
                   ),
                   by_id_last_first AS (PARTITION BY scoped.stream_id ORDER BY scoped.id DESC)
        ),
        record_arithmetic_wrong AS (
            SELECT checked.*, expectation.problem, expectation.found, expectation.expected
            FROM in_allocation_order AS checked
            CROSS JOIN LATERAL (VALUES
                ('units_not_whole_part_of_quantity_and_carried_in',
                 checked.units::numeric, floor(checked.allocated_quantity
                     + checked.carried_in)),
                ('carried_out_not_the_fraction_left',
                 checked.carried_out, checked.allocated_quantity
                     + checked.carried_in - checked.units),
                ('serial_count_not_units', checked.serial_count::numeric, checked.units::numeric),
                ('carried_in_not_carried_out_of_previous_record',
                 checked.carried_in, coalesce(checked.carried_out_before, 0)),
                ('serials_not_where_the_sequence_stood',
                 checked.serial_lower::numeric, coalesce(checked.sequence_before, 1)::numeric)
            ) AS expectation(problem, found, expected)
            WHERE (checked.units <> floor(checked.allocated_quantity
                     + checked.carried_in)
                   OR checked.carried_out <> checked.allocated_quantity
                     + checked.carried_in - checked.units
                   OR checked.serial_count <> checked.units
                   OR checked.carried_in <> coalesce(checked.carried_out_before, 0)
                   OR checked.serial_lower <> coalesce(checked.sequence_before, 1))
              AND expectation.found IS NOT NULL
              AND expectation.found <> expectation.expected
              AND ({record_in_scope})
        ),
        starting_inside_earlier_serials AS (
            SELECT * FROM in_allocation_order
            WHERE serial_lower < reach_of_earlier_serials
        ),
        overlapping_pair AS (
            SELECT later.*, earlier.id AS other_record_id, earlier.serials AS other_serials
            FROM starting_inside_earlier_serials AS later
            JOIN registry_productionrecord AS earlier
              ON earlier.stream_id = later.stream_id
             AND earlier.serials && later.serials
             AND (lower(earlier.serials), earlier.id) < (later.serial_lower, later.id)
            WHERE {pair_in_scope}
        ),
        stream_state AS (
            SELECT last_record.*, stream.next_sequence, stream.carried_remainder
            FROM in_allocation_order AS last_record
            JOIN registry_stream AS stream ON stream.id = last_record.stream_id
            WHERE last_record.position_from_last = 1 AND ({last_in_scope})
        ),
        stream_state_wrong AS (
            SELECT stream_state.*, expectation.problem, expectation.found, expectation.expected
            FROM stream_state
            CROSS JOIN LATERAL (VALUES
                ('stream_next_sequence_not_end_of_allocated_serials',
                 stream_state.next_sequence::numeric, stream_state.sequence_reached::numeric),
                ('stream_remainder_not_carried_out_of_last_record',
                 stream_state.carried_remainder, stream_state.carried_out)
            ) AS expectation(problem, found, expected)
            WHERE expectation.found <> expectation.expected
        ),
        finding AS (
            SELECT problem, stream_id, id AS record_id, source, vintage, serials, quantity,
                   carried_in, carried_out, units, found, expected,
                   NULL::bigint AS other_record_id, NULL::int8range AS other_serials
            FROM record_arithmetic_wrong
            UNION ALL
            SELECT 'serials_overlap_another_record', stream_id, id, source, vintage, serials,
                   quantity, carried_in, carried_out, units, NULL, NULL,
                   other_record_id, other_serials
            FROM overlapping_pair
            UNION ALL
            SELECT problem, stream_id, id, source, vintage, serials, quantity, carried_in,
                   carried_out, units, found, expected, NULL, NULL
            FROM stream_state_wrong
        )
        SELECT finding.problem, finding.stream_id, {stream_label("stream", "project")} AS stream,
               finding.record_id, finding.source, finding.vintage,
               {serial_pair("finding.serials")} AS serials,
               -- Decimals as text, so that JSON keeps every digit.
               finding.quantity::text AS quantity, finding.carried_in::text AS carried_in,
               finding.carried_out::text AS carried_out, finding.units,
               finding.found::text AS found, finding.expected::text AS expected,
               finding.other_record_id, {serial_pair("finding.other_serials")} AS other_serials
        FROM finding
        JOIN registry_stream AS stream ON stream.id = finding.stream_id
        JOIN registry_project AS project ON project.id = stream.project_id
    """
    return sql, [*stream_params, *record_params, *pair_params, *last_params]


def _claims_inside_findings(scope: ReportScope) -> tuple[str, list[Any]]:
    condition, params = scope.claim_condition("claim")
    sql = f"""
        WITH claim_against_its_record AS (
            SELECT claim.id AS claim_id, claim.mechanism_id, claim.role, claim.status,
                   claim.stream_id, claim.serials, claim.quantity, claim.vintage,
                   record.id AS record_id, record.stream_id AS record_stream_id,
                   record.serials AS record_serials, record.vintage AS record_vintage,
                   array_remove(ARRAY[
                       CASE WHEN claim.stream_id <> record.stream_id
                            THEN 'record_of_another_stream' END,
                       CASE WHEN NOT coalesce(record.serials @> claim.serials, FALSE)
                            THEN 'serials_outside_record' END,
                       CASE WHEN claim.quantity <> {range_length("claim.serials")}
                            THEN 'quantity_not_serial_count' END,
                       CASE WHEN claim.vintage <> record.vintage
                            THEN 'vintage_not_record_vintage' END
                   ]::text[], NULL) AS problems
            FROM registry_unitclaim AS claim
            JOIN registry_productionrecord AS record ON record.id = claim.production_record_id
            WHERE {condition}
        )
        SELECT checked.claim_id, mechanism.code AS mechanism, checked.role, checked.status,
               checked.stream_id, {stream_label("stream", "project")} AS stream,
               {serial_pair("checked.serials")} AS serials, checked.quantity, checked.vintage,
               checked.record_id, checked.record_stream_id,
               {serial_pair("checked.record_serials")} AS record_serials, checked.record_vintage,
               checked.problems
        FROM claim_against_its_record AS checked
        JOIN registry_mechanism AS mechanism ON mechanism.id = checked.mechanism_id
        JOIN registry_stream AS stream ON stream.id = checked.stream_id
        JOIN registry_project AS project ON project.id = stream.project_id
        WHERE cardinality(checked.problems) > 0
    """
    return sql, params


def _claims_counts(scope: ReportScope) -> tuple[str, list[Any]]:
    condition, params = scope.claim_condition("claim")
    return (
        f"""
        SELECT count(*) AS examined,
               count(*) FILTER (WHERE claim.status = 'live') AS live_claims,
               count(*) FILTER (WHERE claim.status <> 'live') AS revoked_claims
        FROM registry_unitclaim AS claim WHERE {condition}
        """,
        params,
    )


def _issued_within_produced_findings(scope: ReportScope) -> tuple[str, list[Any]]:
    streams, stream_params = scope.stream_condition("claim.stream_id")
    records, record_params = scope.record_condition("record")
    sql = f"""
        WITH live_claimed_per_record AS (
            SELECT claim.production_record_id AS record_id,
                   sum(claim.quantity) AS live_claimed, count(*) AS live_claims
            FROM registry_unitclaim AS claim
            WHERE claim.status = 'live' AND {streams}
            GROUP BY claim.production_record_id
        )
        SELECT record.id AS record_id, record.stream_id,
               {stream_label("stream", "project")} AS stream, record.source, record.vintage,
               lower(record.period) AS period_start, upper(record.period) AS period_end,
               {serial_pair("record.serials")} AS serials, record.units,
               claimed.live_claimed, claimed.live_claimed - in_force.units AS excess,
               claimed.live_claims, claims_of_record.claim_ids, claims_of_record.mechanisms
        FROM live_claimed_per_record AS claimed
        JOIN registry_productionrecord AS record ON record.id = claimed.record_id
        JOIN registry_stream AS stream ON stream.id = record.stream_id
        JOIN registry_project AS project ON project.id = stream.project_id
        -- Units withdrawn by downward corrections are no longer produced.
        CROSS JOIN LATERAL (
            SELECT record.units - coalesce(sum(upper(correction.withdrawn)
                                               - lower(correction.withdrawn)), 0) AS units
            FROM registry_productionrecord AS correction
            WHERE correction.corrects_id = record.id AND correction.withdrawn IS NOT NULL
        ) AS in_force
        CROSS JOIN LATERAL (
            SELECT (array_agg(claim.id ORDER BY lower(claim.serials), claim.id))[1:50]
                       AS claim_ids,
                   array_agg(DISTINCT mechanism.code) AS mechanisms
            FROM registry_unitclaim AS claim
            JOIN registry_mechanism AS mechanism ON mechanism.id = claim.mechanism_id
            WHERE claim.production_record_id = record.id AND claim.status = 'live'
        ) AS claims_of_record
        WHERE claimed.live_claimed > in_force.units AND {records}
    """
    return sql, [*stream_params, *record_params]


def _issued_within_produced_counts(scope: ReportScope) -> tuple[str, list[Any]]:
    condition, params = scope.record_condition("record")
    return (
        f"""
        SELECT count(*) AS examined, coalesce(sum(record.units), 0) AS units_produced,
               coalesce(sum(claimed.live_claimed), 0) AS units_live_claimed
        FROM registry_productionrecord AS record
        LEFT JOIN (
            SELECT claim.production_record_id, sum(claim.quantity) AS live_claimed
            FROM registry_unitclaim AS claim WHERE claim.status = 'live'
            GROUP BY claim.production_record_id
        ) AS claimed ON claimed.production_record_id = record.id
        WHERE {condition}
        """,
        params,
    )


def _metered_tonnes_where(scope: ReportScope) -> tuple[str, list[Any]]:
    """Metered tonne records of projects whose tonnes are derived only, in the scope."""
    condition, params = scope.record_condition("record")
    technologies = ", ".join(["%s"] * len(DERIVED_ONLY_TECHNOLOGIES))
    return (
        f"""
        FROM registry_productionrecord AS record
        JOIN registry_stream AS stream ON stream.id = record.stream_id
        JOIN registry_project AS project ON project.id = stream.project_id
        WHERE record.source = 'metered' AND stream.unit_kind = 'C'
          AND project.technology IN ({technologies}) AND {condition}
        """,
        [*sorted(DERIVED_ONLY_TECHNOLOGIES), *params],
    )


def _tonnes_derived_findings(scope: ReportScope) -> tuple[str, list[Any]]:
    where, params = _metered_tonnes_where(scope)
    sql = f"""
        SELECT record.stream_id, {stream_label("stream", "project")} AS stream,
               project.code AS project, project.name AS project_name,
               project.technology, record.id AS record_id, record.vintage,
               lower(record.period) AS period_start, upper(record.period) AS period_end,
               record.quantity, {serial_pair("record.serials")} AS serials
        {where}
    """
    return sql, params


def _tonnes_derived_counts(scope: ReportScope) -> tuple[str, list[Any]]:
    # Examined: the tonne records of projects whose tonnes must be derived (any source).
    condition, params = scope.record_condition("record")
    technologies = ", ".join(["%s"] * len(DERIVED_ONLY_TECHNOLOGIES))
    return (
        f"""
        SELECT count(*) AS examined,
               count(*) FILTER (WHERE record.source = 'derived') AS derived_records,
               count(*) FILTER (WHERE record.source = 'metered') AS metered_records
        FROM registry_productionrecord AS record
        JOIN registry_stream AS stream ON stream.id = record.stream_id
        JOIN registry_project AS project ON project.id = stream.project_id
        WHERE stream.unit_kind = 'C' AND project.technology IN ({technologies})
          AND {condition}
        """,
        [*sorted(DERIVED_ONLY_TECHNOLOGIES), *params],
    )


PRODUCTION_CHECKS = [
    Check(
        id="production_periods_never_overlap",
        title=_("Production periods of a stream never overlap"),
        description=_(
            "Every production record of a stream, sorted by the start of its period, starts "
            "after every earlier record it may not share time with has ended: a metered record "
            "shares its period with no other record; derived records (tonnes derived from "
            "claimed MWh) share a period only with each other, allocated allowances only with "
            "each other. Each finding names both records."
        ),
        guarantee="I1",
        counts=_records_counts,
        findings=_periods_findings,
        order_by="stream_id, period_start, record_id, overlaps_record_id",
    ),
    Check(
        id="production_serials_allocated_once",
        title=_("Serials of a stream are allocated once, one per whole unit"),
        description=_(
            "Serial ranges of the production records of a stream never overlap; each record "
            "holds floor(quantity + carried in) serials and carries the fraction left to the "
            "next record of its stream; it starts where the stream's sequence stood; the stream "
            "row holds the next sequence and the remainder of its last record."
        ),
        guarantee="I2",
        counts=_records_counts,
        findings=_serials_findings,
        order_by="stream_id, record_id, problem, other_record_id",
    ),
    Check(
        id="claims_inside_production_records",
        title=_("Every claim lies inside its production record"),
        description=_(
            "Each unit claim, live or revoked, is on the stream of its production record, its "
            "serials lie inside the record's serials, its quantity is the length of its range "
            "and its vintage is the record's."
        ),
        guarantee="I6",
        counts=_claims_counts,
        findings=_claims_inside_findings,
        order_by="stream_id, claim_id",
    ),
    Check(
        id="issued_within_produced",
        title=_("Issued never exceeds produced"),
        description=_(
            "The live claims on a production record never add up to more than the whole units "
            "the record produced."
        ),
        guarantee="I6",
        counts=_issued_within_produced_counts,
        findings=_issued_within_produced_findings,
        order_by="stream_id, record_id",
    ),
    Check(
        id="tonnes_derived_from_electricity",
        title=_("Tonnes of generating assets exist only as derived units"),
        description=_(
            "A project whose output is electricity (wind, solar, hydro, biomass) has no metered "
            "tonne CO2e record: its tonnes exist only as units derived from its MWh; likewise "
            "an energy-saving project's tonnes come only from its saved tce. Each finding names "
            "the project and the metered tonne record."
        ),
        guarantee="I9",
        counts=_tonnes_derived_counts,
        findings=_tonnes_derived_findings,
        order_by="stream_id, record_id",
    ),
]
