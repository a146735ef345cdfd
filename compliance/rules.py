"""R10 at surrender: the CCER share of an obligation, CCER from projects under allowance
management, and CCER issued before the old-CCER cut-off.

R10 is listed in the catalogue (``issuance.rules``) and is configurable: when
``settings.REGISTRY_DISABLED_RULES`` names it, none of these checks runs. Each check raises
``RuleViolation.of("R10", ...)`` with the facts; ``units_surrender`` records the refused attempt.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import ROUND_DOWN, Decimal
from zoneinfo import ZoneInfo

from django.utils.translation import gettext_lazy as _

from compliance.models import ComplianceScheme
from issuance.rules import RULES
from registry.errors import RuleViolation
from tracking.services import Piece

# Compliance dates (the cut-off days, the day a surrender happens) are Chinese calendar days.
SCHEME_TIME_ZONE = ZoneInfo("Asia/Shanghai")


def r10_enabled() -> bool:
    return RULES["R10"].enabled


def ccer_allowed(*, obligation: int, limit_percent: Decimal) -> int:
    """Whole CCER tonnes that may cover an obligation: the percent of it, rounded down."""
    return int((Decimal(obligation) * limit_percent / 100).to_integral_value(rounding=ROUND_DOWN))


def check_ccer_share(
    *, scheme: ComplianceScheme, obligation: int, already_surrendered: int, requested: int
) -> None:
    """CCER surrendered for a year, this surrender included, stays within the scheme's percent
    of the verified obligation. Exactly at the limit is accepted."""
    allowed = ccer_allowed(obligation=obligation, limit_percent=scheme.ccer_limit_percent)
    if already_surrendered + requested <= allowed:
        return
    raise RuleViolation.of(
        "R10",
        _(
            "CCER may cover at most %(percent)s percent of the obligation of %(obligation)s t "
            "in %(scheme)s, that is %(allowed)s t; %(already)s t were surrendered and "
            "%(requested)s t more were asked for (R10)."
        )
        % {
            "percent": scheme.ccer_limit_percent,
            "obligation": obligation,
            "scheme": scheme.code,
            "allowed": allowed,
            "already": already_surrendered,
            "requested": requested,
        },
        field="ccer_quantity",
        reason="ccer_share_exceeded",
        scheme=scheme.code,
        obligation=obligation,
        limit_percent=str(scheme.ccer_limit_percent),
        ccer_requested=requested,
        ccer_already_surrendered=already_surrendered,
        ccer_allowed=allowed,
    )


def check_ccer_units(
    *, scheme: ComplianceScheme, pieces: Sequence[Piece], moment: dt.datetime
) -> None:
    """Every CCER unit taken comes from a project outside allowance management, and none issued
    before the scheme's cut-off is used on or after its not-usable-from day."""
    today = moment.astimezone(SCHEME_TIME_ZONE).date()
    for piece in pieces:
        claim = piece.block.claim
        project = piece.block.stream.project
        if project.inside_ets_boundary:
            raise RuleViolation.of(
                "R10",
                _(
                    "CCER of claim %(claim)s come from project %(project)s, which lies inside "
                    "an ETS-covered entity's boundary (under allowance management); they cannot "
                    "be used for compliance (R10)."
                )
                % {"claim": claim.pk, "project": project.code},
                field="ccer_quantity",
                reason="ccer_project_under_allowance_management",
                claim=claim.pk,
                project=project.code,
            )
        issued_on = claim.issued_at.astimezone(SCHEME_TIME_ZONE).date()
        if issued_on < scheme.old_ccer_issued_before and today >= scheme.old_ccer_unusable_from:
            raise RuleViolation.of(
                "R10",
                _(
                    "CCER of claim %(claim)s (project %(project)s) were issued on %(issued)s, "
                    "before %(cutoff)s; such CCER cannot be used for compliance from "
                    "%(unusable)s on (R10)."
                )
                % {
                    "claim": claim.pk,
                    "project": project.code,
                    "issued": issued_on.isoformat(),
                    "cutoff": scheme.old_ccer_issued_before.isoformat(),
                    "unusable": scheme.old_ccer_unusable_from.isoformat(),
                },
                field="ccer_quantity",
                reason="ccer_issued_before_cutoff",
                claim=claim.pk,
                project=project.code,
                issued_on=issued_on,
                issued_before=scheme.old_ccer_issued_before,
                unusable_from=scheme.old_ccer_unusable_from,
                surrendered_on=today,
            )
