"""Reads on the core that more than one caller needs."""

from __future__ import annotations

from django.db.backends.postgresql.psycopg_any import NumericRange
from django.utils.translation import gettext_lazy as _

from registry.errors import NotFound
from registry.models import Mechanism, MechanismRegistration, UnitClaim


def mechanism_resolve(mechanism: Mechanism | str) -> Mechanism:
    """A Mechanism from an instance or a code; ``unknown_mechanism`` otherwise."""
    if isinstance(mechanism, Mechanism):
        return mechanism
    found = Mechanism.objects.filter(code=str(mechanism).strip().upper()).first()
    if found is None:
        raise NotFound(
            _("Unknown mechanism %(code)s.") % {"code": mechanism},
            code="unknown_mechanism",
            field="mechanism",
        )
    return found


def live_claim_overlapping(*, stream_id: int, lower: int, upper: int) -> UnitClaim | None:
    """The first live claim (by serial) holding any unit of [lower, upper) on the stream."""
    return (
        UnitClaim.objects.filter(
            stream_id=stream_id,
            status=UnitClaim.Status.LIVE,
            serials__overlap=NumericRange(lower, upper, "[)"),
        )
        .select_related("mechanism", "stream__project", "account__organisation")
        .order_by("serials")
        .first()
    )


def active_registration(
    *, project_id: int, mechanism_code: str, period
) -> MechanismRegistration | None:
    """The project's active registration under the mechanism whose crediting period overlaps
    ``period`` (at most one: exclusion constraint), e.g. a wind farm's CCER registration (R7)."""
    return (
        MechanismRegistration.objects.filter(
            project_id=project_id,
            mechanism__code=mechanism_code,
            status=MechanismRegistration.Status.ACTIVE,
            crediting_period__overlap=period,
        )
        .order_by("pk")
        .first()
    )
