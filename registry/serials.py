"""Serial numbers of registry units and half-open ranges of them.

Every unit (MWh, tCO2e, tce) produced by a project's stream gets one integer sequence number.
The database stores sequences as integers and blocks of them as PostgreSQL ``int8range`` values;
the strings defined here are for people and files:

* single serial: ``CN-P7K2Q9-E-202503-000000001001-47``
  (country, project code, unit kind, vintage YYYYMM, 12-digit sequence, check number)
* serial range: ``CN-P7K2Q9-E-202503-000000001001-000000002000``
  (first and last sequence, both inclusive, no check number)

The check number is ISO 7064 MOD 97-10, computed as for IBAN. This module is pure Python (standard
library only) so that it can be used by models, forms, file imports and tests alike.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = (
    "MAX_SEQUENCE",
    "UNIT_KINDS",
    "ParsedRange",
    "Serial",
    "SerialError",
    "SerialRange",
    "check_number",
    "merge_adjacent",
    "parse_range",
    "take_quantity",
)

MAX_SEQUENCE = 10**12
"""Exclusive upper bound of sequence numbers: 12 decimal digits."""

UNIT_KINDS = ("E", "C", "T")
"""Unit kinds: E = MWh of electricity, C = tCO2e, T = tce saved."""

MIN_VINTAGE = 190001
MAX_VINTAGE = 999912

# Character classes are spelled out instead of \d or str.isdigit(), which also accept non-ASCII
# digits such as "٣" that int() would silently convert.
_PREFIX = r"([A-Z]{2})-([A-Z0-9]{6})-([A-Z])-([0-9]{6})"
_SERIAL_RE = re.compile(_PREFIX + r"-([0-9]{12})-([0-9]{2})")
_RANGE_RE = re.compile(_PREFIX + r"-([0-9]{12})-([0-9]{12})")
_BODY_RE = re.compile(r"[A-Z0-9]+")
_COUNTRY_RE = re.compile(r"[A-Z]{2}")
_PROJECT_CODE_RE = re.compile(r"[A-Z0-9]{6}")


class SerialError(ValueError):
    """A serial, serial range or quantity was rejected.

    ``code`` is a stable machine-readable reason (for API responses and translations) and
    ``field`` names the input that was wrong; the message is for people and may change.

    Codes raised by this module: ``malformed_serial``, ``bad_check_number``, ``malformed_range``,
    ``invalid_range``, ``invalid_country``, ``invalid_project_code``, ``invalid_unit_kind``,
    ``invalid_vintage``, ``sequence_out_of_range``, ``split_point_outside``,
    ``quantity_out_of_range``, ``not_adjacent``, ``overlapping_ranges``.
    """

    def __init__(self, code: str, field: str, message: str | None = None) -> None:
        self.code = code
        self.field = field
        self.message = message if message is not None else code.replace("_", " ")
        super().__init__(self.message)

    def __reduce__(self) -> tuple[type[SerialError], tuple[str, str, str]]:
        # The default pickling replays self.args, which lacks code and field; Celery pickles
        # exceptions raised by tasks, so keep all three.
        return (type(self), (self.code, self.field, self.message))

    def __repr__(self) -> str:
        return f"SerialError(code={self.code!r}, field={self.field!r}, message={self.message!r})"


def _is_int(value: object) -> bool:
    # bool is an int subclass, but True as a sequence or quantity is always a caller bug.
    return isinstance(value, int) and not isinstance(value, bool)


def _validate_prefix(
    country: object, project_code: object, unit_kind: object, vintage: object
) -> None:
    """Raise SerialError unless the four fields shared by serials and ranges are valid."""
    if not isinstance(country, str) or not _COUNTRY_RE.fullmatch(country):
        raise SerialError(
            "invalid_country", "country", f"country must be 2 letters A-Z: {country!r}"
        )
    if not isinstance(project_code, str) or not _PROJECT_CODE_RE.fullmatch(project_code):
        raise SerialError(
            "invalid_project_code",
            "project_code",
            f"project code must be 6 characters A-Z or 0-9: {project_code!r}",
        )
    if not isinstance(unit_kind, str) or unit_kind not in UNIT_KINDS:
        raise SerialError(
            "invalid_unit_kind",
            "unit_kind",
            f"unit kind must be one of {UNIT_KINDS}: {unit_kind!r}",
        )
    if (
        not _is_int(vintage)
        or not MIN_VINTAGE <= vintage <= MAX_VINTAGE
        or not 1 <= vintage % 100 <= 12
    ):
        raise SerialError(
            "invalid_vintage", "vintage", f"vintage must be YYYYMM, 1900-9999, 01-12: {vintage!r}"
        )


def _format_prefix(country: str, project_code: str, unit_kind: str, vintage: int) -> str:
    return f"{country}-{project_code}-{unit_kind}-{vintage:06d}"


def _normalise_text(text: object, code: str, field: str) -> str:
    """Return text stripped and uppercased, or raise SerialError(code, field)."""
    if not isinstance(text, str):
        raise SerialError(code, field, f"expected a string, got {type(text).__name__}")
    text = text.strip()
    # Uppercasing non-ASCII can produce ASCII ("ß" -> "SS", "ı" -> "I"), which would let a
    # foreign string pass as a valid serial, so only ASCII is uppercased.
    if not text.isascii():
        raise SerialError(code, field, f"only ASCII characters are allowed: {text!r}")
    return text.upper()


def check_number(body: str) -> str:
    """Return the 2-digit ISO 7064 MOD 97-10 check number of a dash-free body.

    ``body`` must be non-empty and consist of ASCII ``A-Z`` and ``0-9`` only. Letters become two
    digits (A=10 ... Z=35), digits stay, and the result is ``98 - int(numeric + "00") % 97``,
    always in ``"02"`` ... ``"98"``. This is the IBAN computation, so for an IBAN the body is the
    BBAN followed by the country code. Raises SerialError ``malformed_serial`` otherwise.
    """
    if not isinstance(body, str) or not _BODY_RE.fullmatch(body):
        raise SerialError("malformed_serial", "serial", f"body must be A-Z and 0-9 only: {body!r}")
    numeric = "".join(str(int(char, 36)) for char in body)
    return f"{98 - int(numeric + '00') % 97:02d}"


@dataclass(frozen=True)
class Serial:
    """One unit's serial number; construction guarantees every field is valid.

    ``vintage`` is the integer YYYYMM and ``sequence`` the integer in ``[0, MAX_SEQUENCE)``.
    Constructing an invalid Serial raises SerialError with the offending field's code
    (``invalid_country``, ``invalid_project_code``, ``invalid_unit_kind``, ``invalid_vintage`` or
    ``sequence_out_of_range``). Country codes are checked for shape only, not against ISO 3166.
    """

    country: str
    project_code: str
    unit_kind: str
    vintage: int
    sequence: int

    def __post_init__(self) -> None:
        _validate_prefix(self.country, self.project_code, self.unit_kind, self.vintage)
        if not _is_int(self.sequence) or not 0 <= self.sequence < MAX_SEQUENCE:
            raise SerialError(
                "sequence_out_of_range",
                "sequence",
                f"sequence must be an integer in [0, {MAX_SEQUENCE}): {self.sequence!r}",
            )

    @property
    def body(self) -> str:
        """The dash-free string the check number is computed over."""
        prefix = f"{self.country}{self.project_code}{self.unit_kind}{self.vintage:06d}"
        return f"{prefix}{self.sequence:012d}"

    def check_number(self) -> str:
        """Return this serial's 2-digit check number."""
        return check_number(self.body)

    def __str__(self) -> str:
        """Return the canonical string; ``Serial.parse(str(s)) == s`` for every Serial."""
        prefix = _format_prefix(self.country, self.project_code, self.unit_kind, self.vintage)
        return f"{prefix}-{self.sequence:012d}-{self.check_number()}"

    def to_range(self) -> SerialRange:
        """Return the one-unit range holding this serial's sequence."""
        return SerialRange(self.sequence, self.sequence + 1)

    @classmethod
    def parse(cls, text: str) -> Serial:
        """Parse a serial string; ``str(Serial.parse(t))`` equals ``t.strip().upper()``.

        Surrounding whitespace is ignored and ASCII lowercase letters are accepted. Raises
        SerialError ``malformed_serial`` for anything that is not a well-formed serial (including
        a month of 13 or a non-ASCII character) and ``bad_check_number`` when the check number is
        not the one computed from the rest. Only the canonical check number is accepted: the
        aliases "00", "01" and "99", which also satisfy ``int(numeric + check) % 97 == 1``, are
        rejected so that every accepted string formats back to itself.
        """
        normal = _normalise_text(text, "malformed_serial", "serial")
        match = _SERIAL_RE.fullmatch(normal)
        if match is None:
            raise SerialError("malformed_serial", "serial", f"not a serial number: {text!r}")
        country, project_code, unit_kind, vintage, sequence, check = match.groups()
        try:
            serial = cls(country, project_code, unit_kind, int(vintage), int(sequence))
        except SerialError as error:
            raise SerialError("malformed_serial", "serial", error.message) from error
        if check != serial.check_number():
            raise SerialError("bad_check_number", "serial", f"wrong check number: {text!r}")
        return serial


@dataclass(frozen=True, order=True)
class SerialRange:
    """A non-empty half-open block ``[lower, upper)`` of sequence numbers.

    This is the canonical form of PostgreSQL ``int8range``, so values map one to one onto the
    database column. Construction guarantees ``0 <= lower < upper <= MAX_SEQUENCE`` with both
    bounds plain ints (not bool), else raises SerialError ``invalid_range``. Ordering is by
    ``(lower, upper)``, which is serial order for disjoint ranges.
    """

    lower: int
    upper: int

    def __post_init__(self) -> None:
        if not (_is_int(self.lower) and _is_int(self.upper)):
            raise SerialError(
                "invalid_range", "range", f"bounds must be integers: {self.lower!r}, {self.upper!r}"
            )
        if not 0 <= self.lower < self.upper <= MAX_SEQUENCE:
            raise SerialError(
                "invalid_range",
                "range",
                f"need 0 <= lower < upper <= {MAX_SEQUENCE}: [{self.lower}, {self.upper})",
            )

    @classmethod
    def from_inclusive(cls, first: int, last: int) -> SerialRange:
        """Return the range from ``first`` to ``last``, both inclusive (as written in strings)."""
        if not (_is_int(first) and _is_int(last)):
            raise SerialError(
                "invalid_range", "range", f"bounds must be integers: {first!r}, {last!r}"
            )
        return cls(first, last + 1)

    @property
    def last(self) -> int:
        """The last sequence in the range (inclusive), ``upper - 1``."""
        return self.upper - 1

    @property
    def length(self) -> int:
        """Number of units in the range, always at least 1."""
        return self.upper - self.lower

    def __len__(self) -> int:
        return self.upper - self.lower

    def contains(self, sequence: int) -> bool:
        """Return whether the unit with this sequence number is in the range."""
        return self.lower <= sequence < self.upper

    def contains_range(self, other: SerialRange) -> bool:
        """Return whether every unit of ``other`` is in this range."""
        return self.lower <= other.lower and other.upper <= self.upper

    def overlaps(self, other: SerialRange) -> bool:
        """Return whether the two ranges share at least one unit."""
        return self.lower < other.upper and other.lower < self.upper

    def is_adjacent(self, other: SerialRange) -> bool:
        """Return whether the ranges touch end to start (either order) without sharing a unit."""
        return self.upper == other.lower or other.upper == self.lower

    def split_at(self, point: int) -> tuple[SerialRange, SerialRange]:
        """Return ``([lower, point), [point, upper))``: adjacent, non-empty, union is self.

        Raises SerialError ``split_point_outside`` unless ``lower < point < upper``.
        """
        if not _is_int(point) or not self.lower < point < self.upper:
            raise SerialError(
                "split_point_outside",
                "point",
                f"split point {point!r} is not strictly inside [{self.lower}, {self.upper})",
            )
        return SerialRange(self.lower, point), SerialRange(point, self.upper)

    def split_off(self, quantity: int) -> tuple[SerialRange, SerialRange | None]:
        """Return the first ``quantity`` units and the rest (None when nothing is left).

        The parts are adjacent and their union is self. Raises SerialError
        ``quantity_out_of_range`` unless ``quantity`` is an int (not bool) in ``[1, length]``.
        """
        if not _is_int(quantity) or not 1 <= quantity <= self.length:
            raise SerialError(
                "quantity_out_of_range",
                "quantity",
                f"quantity must be an integer in [1, {self.length}]: {quantity!r}",
            )
        if quantity == self.length:
            return self, None
        return self.split_at(self.lower + quantity)

    def merge(self, other: SerialRange) -> SerialRange:
        """Return the union of two adjacent ranges, given in either order.

        Raises SerialError ``not_adjacent`` if they overlap or leave a gap, because the union
        would then either count units twice or not be one range.
        """
        if not self.is_adjacent(other):
            raise SerialError(
                "not_adjacent", "range", f"ranges are not adjacent: {self!r}, {other!r}"
            )
        return SerialRange(min(self.lower, other.lower), max(self.upper, other.upper))

    def intersection(self, other: SerialRange) -> SerialRange | None:
        """Return the units in both ranges, or None if they share none."""
        lower = max(self.lower, other.lower)
        upper = min(self.upper, other.upper)
        return SerialRange(lower, upper) if lower < upper else None

    def format(self, country: str, project_code: str, unit_kind: str, vintage: int) -> str:
        """Return the range string, first and last sequence both inclusive.

        Raises SerialError (``invalid_country`` and so on) if a prefix field is invalid.
        """
        _validate_prefix(country, project_code, unit_kind, vintage)
        prefix = _format_prefix(country, project_code, unit_kind, vintage)
        return f"{prefix}-{self.lower:012d}-{self.last:012d}"


@dataclass(frozen=True)
class ParsedRange:
    """A serial range with the prefix it was written with; construction validates all fields."""

    country: str
    project_code: str
    unit_kind: str
    vintage: int
    serial_range: SerialRange

    def __post_init__(self) -> None:
        _validate_prefix(self.country, self.project_code, self.unit_kind, self.vintage)
        if not isinstance(self.serial_range, SerialRange):
            raise SerialError("invalid_range", "range", f"not a SerialRange: {self.serial_range!r}")

    def __str__(self) -> str:
        """Return the range string; ``parse_range(str(p)) == p``."""
        return self.serial_range.format(
            self.country, self.project_code, self.unit_kind, self.vintage
        )


def parse_range(text: str) -> ParsedRange:
    """Parse a range string, or a single serial as a range of one unit.

    Surrounding whitespace is ignored and ASCII lowercase letters are accepted. For a range string,
    raises SerialError ``malformed_range`` if it is not well formed and ``invalid_range`` if the
    last sequence is below the first. A single serial is validated exactly as by ``Serial.parse``,
    so its errors are ``malformed_serial`` and ``bad_check_number``.
    """
    normal = _normalise_text(text, "malformed_range", "range")
    if _SERIAL_RE.fullmatch(normal):
        serial = Serial.parse(normal)
        return ParsedRange(
            serial.country, serial.project_code, serial.unit_kind, serial.vintage, serial.to_range()
        )
    match = _RANGE_RE.fullmatch(normal)
    if match is None:
        raise SerialError("malformed_range", "range", f"not a serial range: {text!r}")
    country, project_code, unit_kind, vintage, first, last = match.groups()
    try:
        _validate_prefix(country, project_code, unit_kind, int(vintage))
    except SerialError as error:
        raise SerialError("malformed_range", "range", error.message) from error
    serial_range = SerialRange.from_inclusive(int(first), int(last))
    return ParsedRange(country, project_code, unit_kind, int(vintage), serial_range)


def merge_adjacent(ranges: Iterable[SerialRange]) -> list[SerialRange]:
    """Return the ranges sorted, with adjacent ones coalesced; the units are exactly the same.

    The result is sorted, pairwise disjoint and has no two adjacent ranges, so it is the unique
    minimal representation of the input's units and applying the function again changes nothing.
    Raises SerialError ``overlapping_ranges`` if any two input ranges share a unit, since the
    input would then count that unit twice.
    """
    merged: list[SerialRange] = []
    for current in sorted(ranges):
        if merged and current.lower < merged[-1].upper:
            raise SerialError(
                "overlapping_ranges", "range", f"ranges overlap: {merged[-1]!r}, {current!r}"
            )
        if merged and current.lower == merged[-1].upper:
            merged[-1] = SerialRange(merged[-1].lower, current.upper)
        else:
            merged.append(current)
    return merged


def take_quantity(
    ranges: Sequence[SerialRange], quantity: int
) -> tuple[list[SerialRange], list[SerialRange]]:
    """Take the first ``quantity`` units, in serial order, out of disjoint ranges.

    Returns ``(taken, remaining)``, each sorted by ``lower``. The taken ranges hold exactly
    ``quantity`` units, are all below the remaining ones, and together with them hold exactly the
    input's units, none twice. Range boundaries are kept (they may be separate database rows),
    except that at most one range is split in two. Raises SerialError ``quantity_out_of_range``
    unless ``quantity`` is an int (not bool) in ``[1, total units]``, and ``overlapping_ranges``
    if two input ranges share a unit.
    """
    ordered = sorted(ranges)
    for previous, current in itertools.pairwise(ordered):
        if current.lower < previous.upper:
            raise SerialError(
                "overlapping_ranges", "range", f"ranges overlap: {previous!r}, {current!r}"
            )
    total = sum(serial_range.length for serial_range in ordered)
    if not _is_int(quantity) or not 1 <= quantity <= total:
        raise SerialError(
            "quantity_out_of_range",
            "quantity",
            f"quantity must be an integer in [1, {total}]: {quantity!r}",
        )
    taken: list[SerialRange] = []
    needed = quantity
    for index, serial_range in enumerate(ordered):
        if serial_range.length >= needed:
            head, rest = serial_range.split_off(needed)
            taken.append(head)
            remaining = ([rest] if rest is not None else []) + ordered[index + 1 :]
            return taken, remaining
        taken.append(serial_range)
        needed -= serial_range.length
    # Unreachable: quantity <= total guarantees the loop returns.
    raise AssertionError("quantity exceeded total units")
