"""Data the benchmarks start from: personas, project owners with their accounts, projects.

Set-up is not what is measured, so it uses ``bulk_create`` (projects, streams, organisations,
accounts) where the services would take hours; everything that is measured goes through the
services (or, for the raw-SQL baseline, through plain INSERTs).
"""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass
from decimal import Decimal
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
PROJECTS_PER_OWNER = 10

_project_numbers = itertools.count()
_organisation_numbers = itertools.count()


@dataclass(frozen=True)
class Personas:
    """The issuing body officer who records production and issues GEC, and the GEC mechanism."""

    issuer_id: int
    issuing_body_id: int
    gec_id: int


@dataclass(frozen=True)
class ProjectRef:
    """What a worker needs to know about a project: ids and the fields serials are made of."""

    project_id: int
    code: str
    country: str
    time_zone: str
    stream_id: int  # the electricity stream
    account_id: int  # the owner's holding account, where issued units go
    account_number: str
    owner_id: int


def project_code(number: int) -> str:
    """A unique six-character project code (``B`` + five base-32 digits) for the n-th project."""
    digits = []
    for _position in range(5):
        number, digit = divmod(number, len(CODE_ALPHABET))
        digits.append(CODE_ALPHABET[digit])
    return "B" + "".join(reversed(digits))


# Production starts this many months before the current month: recent enough that GECs (valid
# 24 months) are neither born expired nor expired before they move, and ending in the past as
# production must (so --months-per-project stays at most this number).
MONTHS_BEFORE_NOW = 12


def month_period(months_after_start: int) -> tuple[dt.datetime, dt.datetime]:
    """One calendar month in Shanghai time, counted from ``MONTHS_BEFORE_NOW`` months ago."""
    today = dt.datetime.now(SHANGHAI)
    first = today.year * 12 + today.month - 1 - MONTHS_BEFORE_NOW + months_after_start
    start = dt.datetime(first // 12, first % 12 + 1, 1, tzinfo=SHANGHAI)
    end = dt.datetime((first + 1) // 12, (first + 1) % 12 + 1, 1, tzinfo=SHANGHAI)
    return start, end


def create_personas() -> Personas:
    """An issuing body allowed to issue GEC and its officer (role: issuer)."""
    from accounts.models import Organisation, User
    from registry.models import Mechanism

    body = Organisation.objects.create(
        code="bench-gec-centre", name="Bench GEC centre", kind=Organisation.Kind.ISSUING_BODY
    )
    issuer = User.objects.create(username="bench-issuer", organisation=body, role=User.Role.ISSUER)
    gec = Mechanism.objects.get(code="GEC")
    gec.issuing_bodies.add(body)
    return Personas(issuer_id=issuer.pk, issuing_body_id=body.pk, gec_id=gec.pk)


def create_holder(label: str) -> tuple[int, int]:
    """A trading organisation with a holder user; returns (user id, organisation id)."""
    from accounts.models import Organisation, User

    number = next(_organisation_numbers)
    organisation = Organisation.objects.create(
        code=f"bench-{label}-{number}",
        name=f"Bench {label} {number}",
        kind=Organisation.Kind.TRADER,
    )
    user = User.objects.create(
        username=f"bench-{label}-{number}", organisation=organisation, role=User.Role.HOLDER
    )
    return user.pk, organisation.pk


def create_account(organisation_id: int, label: str) -> tuple[int, str]:
    """A holding account of an organisation; returns (id, number)."""
    from accounts.models import HoldingAccount

    number = f"BENCH-{label}-{next(_organisation_numbers):07d}"
    account = HoldingAccount.objects.create(
        organisation_id=organisation_id, number=number, name=f"Bench {label}"
    )
    return account.pk, account.number


def create_projects(count: int, *, capacity_mw: Decimal = Decimal("50")) -> list[ProjectRef]:
    """``count`` approved wind projects with their three streams, owned by one organisation per
    ``PROJECTS_PER_OWNER`` projects, each owner with one holding account."""
    from accounts.models import HoldingAccount, Organisation
    from registry.models import Project, Stream, UnitKind

    owner_count = -(-count // PROJECTS_PER_OWNER)
    owner_numbers = [next(_organisation_numbers) for _ in range(owner_count)]
    owners = Organisation.objects.bulk_create(
        Organisation(
            code=f"bench-owner-{number}",
            name=f"Bench owner {number}",
            kind=Organisation.Kind.PROJECT_OWNER,
        )
        for number in owner_numbers
    )
    accounts = HoldingAccount.objects.bulk_create(
        HoldingAccount(
            organisation=owner, number=f"BENCH-O-{number:07d}", name=f"Bench owner {number} account"
        )
        for owner, number in zip(owners, owner_numbers, strict=True)
    )
    projects = Project.objects.bulk_create(
        (
            Project(
                code=project_code(next(_project_numbers)),
                name=f"Bench wind farm {index}",
                owner=owners[index // PROJECTS_PER_OWNER],
                country="CN",
                province="CN-NM",
                grid_region="North",
                technology=Project.Technology.WIND,
                capacity_mw=capacity_mw,
                commissioning_date=dt.date(2020, 1, 1),
                status=Project.Status.APPROVED,
            )
            for index in range(count)
        ),
        batch_size=5000,
    )
    streams = Stream.objects.bulk_create(
        (
            Stream(project=project, unit_kind=kind)
            for project in projects
            for kind in UnitKind.values
        ),
        batch_size=5000,
    )
    electricity = {
        stream.project_id: stream.pk
        for stream in streams
        if stream.unit_kind == UnitKind.ELECTRICITY
    }
    return [
        ProjectRef(
            project_id=project.pk,
            code=project.code,
            country=project.country,
            time_zone=project.time_zone,
            stream_id=electricity[project.pk],
            account_id=accounts[index // PROJECTS_PER_OWNER].pk,
            account_number=accounts[index // PROJECTS_PER_OWNER].number,
            owner_id=owners[index // PROJECTS_PER_OWNER].pk,
        )
        for index, project in enumerate(projects)
    ]
