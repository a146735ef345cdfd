"""Every issuance covered by a valid declaration of no double counting where required (R13)."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _

from audit.checks.base import Check, serial_pair, stream_label
from audit.scope import ReportScope


def r13_enabled() -> bool:
    """Whether this registry requires declarations now (R13 can be switched off by
    REGISTRY_DISABLED_RULES). Read from the setting, not from the code that issues."""
    from tracking.checks import switched_off

    return not switched_off("R13")


def _claims_requiring_declaration(scope: ReportScope) -> tuple[str, list[Any]]:
    # The units a declaration covers are those of the production record the claim was issued
    # from: a derived claim's (tonnes) were issued from its source claim's record (MWh or tce),
    # which is what issuance looks a declaration up for.
    condition, params = scope.claim_condition("claim")
    sql = f"""
        SELECT claim.id, claim.mechanism_id, claim.stream_id, claim.serials, claim.quantity,
               claim.vintage, claim.role, claim.issued_at, claim.declaration_id,
               covered.id AS covered_record_id, covered.stream_id AS covered_stream_id,
               covered.period AS covered_period
        FROM registry_unitclaim AS claim
        JOIN registry_mechanism AS mechanism
          ON mechanism.id = claim.mechanism_id AND mechanism.requires_declaration
        LEFT JOIN registry_unitclaim AS source ON source.id = claim.source_claim_id
        JOIN registry_productionrecord AS covered
          ON covered.id = coalesce(source.production_record_id, claim.production_record_id)
        WHERE claim.status = 'live' AND {condition}
    """
    return sql, params


def _declarations_findings(scope: ReportScope) -> tuple[str, list[Any]]:
    claims, params = _claims_requiring_declaration(scope)
    sql = f"""
        WITH claim_requiring_declaration AS ({claims}),
        declaration_of_claim AS (
            SELECT declaration.id, declaration.stream_id, declaration.period,
                   declaration.signed_at, declaration.revoked_at, declaration.text_sha256,
                   encode(sha256(convert_to(declaration.text, 'UTF8')), 'hex') AS text_sha256_now
            FROM registry_declaration AS declaration
            WHERE declaration.id IN (
                SELECT claim.declaration_id FROM claim_requiring_declaration AS claim
            )
        ),
        checked AS (
            SELECT claim.*, declaration.stream_id AS declaration_stream_id,
                   declaration.period AS declaration_period, declaration.signed_at,
                   declaration.revoked_at, declaration.text_sha256,
                   declaration.text_sha256_now,
                   array_remove(ARRAY[
                       CASE WHEN claim.declaration_id IS NULL AND %s THEN 'no_declaration' END,
                       CASE WHEN declaration.stream_id <> claim.covered_stream_id
                            THEN 'declaration_of_another_stream' END,
                       CASE WHEN NOT (declaration.period @> claim.covered_period)
                            THEN 'period_not_covered' END,
                       CASE WHEN declaration.signed_at > claim.issued_at
                            THEN 'signed_after_issuance' END,
                       CASE WHEN declaration.revoked_at <= claim.issued_at
                            THEN 'revoked_before_issuance' END,
                       CASE WHEN declaration.text_sha256 <> declaration.text_sha256_now
                            THEN 'text_does_not_match_its_sha256' END
                   ]::text[], NULL) AS problems
            FROM claim_requiring_declaration AS claim
            LEFT JOIN declaration_of_claim AS declaration ON declaration.id = claim.declaration_id
        )
        SELECT checked.id AS claim_id, mechanism.code AS mechanism, checked.role,
               checked.stream_id, {stream_label("stream", "project")} AS stream,
               {serial_pair("checked.serials")} AS serials, checked.quantity, checked.vintage,
               checked.issued_at, checked.covered_record_id AS record_id,
               lower(checked.covered_period) AS record_period_start,
               upper(checked.covered_period) AS record_period_end,
               checked.declaration_id, checked.declaration_stream_id,
               lower(checked.declaration_period) AS declaration_period_start,
               upper(checked.declaration_period) AS declaration_period_end,
               checked.signed_at, checked.revoked_at,
               checked.text_sha256 AS stored_text_sha256,
               checked.text_sha256_now AS computed_text_sha256,
               checked.problems
        FROM checked
        JOIN registry_mechanism AS mechanism ON mechanism.id = checked.mechanism_id
        JOIN registry_stream AS stream ON stream.id = checked.stream_id
        JOIN registry_project AS project ON project.id = stream.project_id
        WHERE cardinality(checked.problems) > 0
    """
    return sql, [*params, r13_enabled()]


def _declarations_counts(scope: ReportScope) -> tuple[str, list[Any]]:
    claims, params = _claims_requiring_declaration(scope)
    sql = f"""
        SELECT count(*) AS examined,
               count(*) FILTER (WHERE claim.declaration_id IS NULL) AS claims_without_declaration,
               count(DISTINCT claim.declaration_id) AS declarations,
               %s AS rule_r13_enabled
        FROM ({claims}) AS claim
    """
    return sql, [r13_enabled(), *params]


DECLARATION_CHECKS = [
    Check(
        id="issuance_covered_by_declaration",
        title=_("Every issuance is covered by a valid declaration where required"),
        description=_(
            "Every live claim of a mechanism that requires a declaration of no double counting "
            "names a declaration on the stream it was issued from, whose period contains the "
            "production record's period, signed at or before issuance, not revoked then, and "
            "whose stored SHA-256 is that of its text. While rule R13 is switched off "
            "(REGISTRY_DISABLED_RULES) a claim without a declaration is counted, not listed; "
            "the counts say whether R13 was on."
        ),
        guarantee="R13",
        counts=_declarations_counts,
        findings=_declarations_findings,
        order_by="stream_id, claim_id",
    ),
]
