"""The scope of a uniqueness report and the SQL that restricts each check to it.

A scope is stored as JSON on the report and turned into SQL fragments with bound parameters, so
every check reads the same set of projects, mechanisms and vintages.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext_lazy as _

from registry.errors import DomainError

SCOPE_KEYS = ("mechanism", "project", "province", "organisation", "vintage_from", "vintage_to")


class ScopeError(DomainError):
    """A scope that names something that does not exist or is malformed (400)."""

    code = "invalid_scope"


def _vintage(value: Any, field: str) -> int | None:
    if value in (None, ""):
        return None
    try:
        vintage = int(value)
    except (TypeError, ValueError):
        vintage = -1
    if not (190001 <= vintage <= 299912 and 1 <= vintage % 100 <= 12):
        raise ScopeError(
            _("%(field)s must be a vintage written YYYYMM, such as 202503.") % {"field": field},
            field=field,
        )
    return vintage


@dataclass(frozen=True)
class ReportScope:
    """What a report covers; every field empty means the whole registry.

    ``organisation`` is the code of the organisation that owns the projects (for refused attempts:
    the organisation of the user who tried).
    """

    mechanism: str = ""
    project: str = ""
    province: str = ""
    organisation: str = ""
    vintage_from: int | None = None
    vintage_to: int | None = None

    @classmethod
    def from_json(cls, raw: dict[str, Any] | None) -> ReportScope:
        """Validate a scope given by a user (API, admin, command); raises ScopeError."""
        raw = dict(raw or {})
        unknown = sorted(set(raw) - set(SCOPE_KEYS))
        if unknown:
            raise ScopeError(
                _("Unknown scope field %(field)s.") % {"field": unknown[0]},
                field=unknown[0],
            )
        text = {}
        for key in ("mechanism", "project", "province", "organisation"):
            value = raw.get(key) or ""
            if not isinstance(value, str) or len(value) > 64:
                raise ScopeError(
                    _("%(field)s must be a code of at most 64 characters.") % {"field": key},
                    field=key,
                )
            text[key] = value.strip()
        scope = cls(
            mechanism=text["mechanism"].upper(),
            project=text["project"].upper(),
            province=text["province"].upper(),
            organisation=text["organisation"],
            vintage_from=_vintage(raw.get("vintage_from"), "vintage_from"),
            vintage_to=_vintage(raw.get("vintage_to"), "vintage_to"),
        )
        if scope.vintage_from and scope.vintage_to and scope.vintage_from > scope.vintage_to:
            raise ScopeError(_("vintage_from is after vintage_to."), field="vintage_from")
        scope._check_names_exist()
        return scope

    def _check_names_exist(self) -> None:
        from accounts.models import Organisation
        from registry.models import Mechanism, Project

        lookups = [
            ("mechanism", self.mechanism, Mechanism.objects.filter(code=self.mechanism)),
            ("project", self.project, Project.objects.filter(code=self.project)),
            (
                "organisation",
                self.organisation,
                Organisation.objects.filter(code=self.organisation),
            ),
        ]
        for field, value, queryset in lookups:
            if value and not queryset.exists():
                raise ScopeError(
                    _("No %(field)s with the code %(code)s.") % {"field": field, "code": value},
                    field=field,
                )

    def as_json(self) -> dict[str, Any]:
        """Only the fields that narrow the scope, so the whole registry is ``{}``."""
        values = {
            "mechanism": self.mechanism,
            "project": self.project,
            "province": self.province,
            "organisation": self.organisation,
            "vintage_from": self.vintage_from,
            "vintage_to": self.vintage_to,
        }
        return {key: value for key, value in values.items() if value not in ("", None)}

    # SQL fragments. Each returns (sql, params) to AND into a WHERE clause; "TRUE" when the
    # scope does not narrow that dimension.

    def project_condition(self, project_id: str) -> tuple[str, list[Any]]:
        """Restrict rows whose project id is the SQL expression ``project_id``."""
        if not (self.project or self.province or self.organisation):
            return "TRUE", []
        conditions, params = [], []
        if self.project:
            conditions.append("scoped_project.code = %s")
            params.append(self.project)
        if self.province:
            conditions.append("scoped_project.province = %s")
            params.append(self.province)
        if self.organisation:
            conditions.append(
                "scoped_project.owner_id IN (SELECT id FROM accounts_organisation WHERE code = %s)"
            )
            params.append(self.organisation)
        sql = (
            f"{project_id} IN (SELECT scoped_project.id FROM registry_project AS scoped_project "
            f"WHERE {' AND '.join(conditions)})"
        )
        return sql, params

    def stream_condition(self, stream_id: str) -> tuple[str, list[Any]]:
        """Restrict rows whose stream id is the SQL expression ``stream_id``."""
        sql, params = self.project_condition("scoped_stream.project_id")
        if sql == "TRUE":
            return "TRUE", []
        return (
            f"{stream_id} IN (SELECT scoped_stream.id FROM registry_stream AS scoped_stream "
            f"WHERE {sql})",
            params,
        )

    def mechanism_condition(self, mechanism_id: str) -> tuple[str, list[Any]]:
        if not self.mechanism:
            return "TRUE", []
        return (
            f"{mechanism_id} IN (SELECT id FROM registry_mechanism WHERE code = %s)",
            [self.mechanism],
        )

    def vintage_condition(self, vintage: str) -> tuple[str, list[Any]]:
        conditions, params = [], []
        if self.vintage_from:
            conditions.append(f"{vintage} >= %s")
            params.append(self.vintage_from)
        if self.vintage_to:
            conditions.append(f"{vintage} <= %s")
            params.append(self.vintage_to)
        return (" AND ".join(conditions) or "TRUE"), params

    def claim_condition(self, alias: str) -> tuple[str, list[Any]]:
        """Restrict unit claims (or blocks, which carry the same columns) named ``alias``."""
        return combine(
            self.stream_condition(f"{alias}.stream_id"),
            self.mechanism_condition(f"{alias}.mechanism_id"),
            self.vintage_condition(f"{alias}.vintage"),
        )

    def claim_side_condition(self, alias: str) -> tuple[str, list[Any]]:
        """The part of ``claim_condition`` that is not about the stream (mechanism and vintage):
        for a pair of rows of one scoped stream, a pair is in scope when either side is."""
        return combine(
            self.mechanism_condition(f"{alias}.mechanism_id"),
            self.vintage_condition(f"{alias}.vintage"),
        )

    def record_condition(self, alias: str, *, with_vintage: bool = True) -> tuple[str, list[Any]]:
        """Restrict production records named ``alias`` (a mechanism scope keeps the streams on
        which that mechanism holds any claim). ``with_vintage=False`` keeps every record of the
        scoped streams, for checks that compare a record with its neighbours."""
        parts = [self.stream_condition(f"{alias}.stream_id")]
        if with_vintage:
            parts.append(self.vintage_condition(f"{alias}.vintage"))
        if self.mechanism:
            parts.append(
                (
                    f"{alias}.stream_id IN (SELECT scoped_claim.stream_id FROM "
                    "registry_unitclaim AS scoped_claim JOIN registry_mechanism AS "
                    "scoped_mechanism ON scoped_mechanism.id = scoped_claim.mechanism_id "
                    "WHERE scoped_mechanism.code = %s)",
                    [self.mechanism],
                )
            )
        return combine(*parts)


def combine(*conditions: tuple[str, list[Any]]) -> tuple[str, list[Any]]:
    """AND several (sql, params) conditions, dropping the ones that are just TRUE."""
    parts = [(sql, params) for sql, params in conditions if sql != "TRUE"]
    if not parts:
        return "TRUE", []
    return (
        " AND ".join(f"({sql})" for sql, _params in parts),
        [param for _sql, params in parts for param in params],
    )


def either(*conditions: tuple[str, list[Any]]) -> tuple[str, list[Any]]:
    """OR several (sql, params) conditions; TRUE as soon as one of them is TRUE."""
    if any(sql == "TRUE" for sql, _params in conditions):
        return "TRUE", []
    return (
        " OR ".join(f"({sql})" for sql, _params in conditions),
        [param for _sql, params in conditions for param in params],
    )
