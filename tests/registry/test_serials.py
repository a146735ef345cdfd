"""Tests of registry.serials: serial strings, check numbers and half-open serial ranges.

Pure Python: no database and no Django settings are needed.
"""

import itertools
import pickle
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from registry.serials import (
    MAX_SEQUENCE,
    UNIT_KINDS,
    ParsedRange,
    Serial,
    SerialError,
    SerialRange,
    check_number,
    merge_adjacent,
    parse_range,
    take_quantity,
)

# Strategies ---------------------------------------------------------------------------------

countries = st.text(alphabet=string.ascii_uppercase, min_size=2, max_size=2)
project_codes = st.text(alphabet=string.ascii_uppercase + string.digits, min_size=6, max_size=6)
unit_kinds = st.sampled_from(UNIT_KINDS)
vintages = st.builds(
    lambda year, month: year * 100 + month, st.integers(1900, 9999), st.integers(1, 12)
)
sequences = st.integers(0, MAX_SEQUENCE - 1)
serials = st.builds(Serial, countries, project_codes, unit_kinds, vintages, sequences)


@st.composite
def serial_ranges(draw: st.DrawFn, max_length: int | None = None) -> SerialRange:
    """Ranges anywhere in [0, MAX_SEQUENCE), biased towards short ones and the edges."""
    lower = draw(st.integers(0, MAX_SEQUENCE - 1))
    room = MAX_SEQUENCE - lower
    if max_length is not None:
        room = min(room, max_length)
    length = draw(st.one_of(st.integers(1, min(room, 20)), st.integers(1, room)))
    return SerialRange(lower, lower + length)


@st.composite
def disjoint_ranges(draw: st.DrawFn, min_size: int = 0) -> list[SerialRange]:
    """Pairwise disjoint short ranges in shuffled order; a gap of 0 makes neighbours adjacent."""
    start = draw(st.integers(0, MAX_SEQUENCE - 1_000))
    pieces = draw(
        st.lists(st.tuples(st.integers(0, 3), st.integers(1, 20)), min_size=min_size, max_size=8)
    )
    ranges = []
    for gap, length in pieces:
        start += gap
        ranges.append(SerialRange(start, start + length))
        start += length
    return draw(st.permutations(ranges))


def units(ranges: list[SerialRange]) -> list[int]:
    """Every sequence number in the ranges, with repeats, in serial order."""
    return sorted(sequence for r in ranges for sequence in range(r.lower, r.upper))


def mod97_check_by_hand(body: str) -> str:
    """MOD 97-10 check number computed digit by digit, independently of registry.serials."""
    numeric = "".join(str(ord(c) - ord("A") + 10) if c.isalpha() else c for c in body)
    remainder = 0
    for digit in numeric + "00":
        remainder = (remainder * 10 + int(digit)) % 97
    return f"{98 - remainder:02d}"


def numeric_form(text: str) -> str:
    """The digits the check number sees: dashes dropped, letters replaced by 10..35."""
    return "".join(str(int(c, 36)) for c in text.replace("-", ""))


def find_serial_with_check(check: str) -> Serial:
    """A serial of the example project whose canonical check number is `check`."""
    for sequence in range(10_000):
        serial = Serial("CN", "P7K2Q9", "E", 202503, sequence)
        if serial.check_number() == check:
            return serial
    raise AssertionError(f"no serial with check number {check}")


EXAMPLE_BODY = "CNP7K2Q9E202503000000001001"
EXAMPLE = Serial("CN", "P7K2Q9", "E", 202503, 1001)

# Known examples -----------------------------------------------------------------------------


def test_check_number_of_known_body_matches_digit_by_digit_computation():
    assert mod97_check_by_hand(EXAMPLE_BODY) == "92"
    assert check_number(EXAMPLE_BODY) == "92"
    assert EXAMPLE.body == EXAMPLE_BODY
    assert EXAMPLE.check_number() == "92"


def test_known_serial_formats_and_parses_back():
    text = "CN-P7K2Q9-E-202503-000000001001-92"
    assert str(EXAMPLE) == text
    assert Serial.parse(text) == EXAMPLE
    # The check number makes the whole numeric form congruent to 1 modulo 97, as for IBAN.
    assert int(numeric_form(text)) % 97 == 1


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        # Published example IBANs, rearranged as BBAN + country code.
        ("WEST12345698765432GB", "82"),
        ("370400440532013000DE", "89"),
    ],
)
def test_check_number_agrees_with_published_iban_check_digits(body, expected):
    assert check_number(body) == expected


@given(st.text(alphabet=string.ascii_uppercase + string.digits, min_size=1, max_size=40))
def test_check_number_matches_digit_by_digit_computation_for_any_body(body):
    assert check_number(body) == mod97_check_by_hand(body)
    assert 2 <= int(check_number(body)) <= 98


@pytest.mark.parametrize("body", ["", "cn1", "CN-1", "CN 1", "١٢٣", None, 123])
def test_check_number_rejects_bodies_other_than_uppercase_ascii_alphanumerics(body):
    with pytest.raises(SerialError) as caught:
        check_number(body)
    assert caught.value.code == "malformed_serial"


# Round trips --------------------------------------------------------------------------------


@given(serials)
def test_format_then_parse_is_identity_for_every_serial(serial):
    text = str(serial)
    assert Serial.parse(text) == serial
    assert str(Serial.parse(text)) == text
    assert int(numeric_form(text)) % 97 == 1


@given(serials)
def test_parse_accepts_lowercase_and_surrounding_whitespace(serial):
    assert Serial.parse(f"  {str(serial).lower()}\n") == serial


@given(countries, project_codes, unit_kinds, vintages, serial_ranges())
def test_range_string_parse_then_format_is_identity(
    country, project_code, unit_kind, vintage, serial_range
):
    text = serial_range.format(country, project_code, unit_kind, vintage)
    parsed = parse_range(text)
    assert parsed == ParsedRange(country, project_code, unit_kind, vintage, serial_range)
    assert str(parsed) == text
    assert parse_range(f" {text.lower()} ") == parsed


@given(serials)
def test_parse_range_reads_a_single_serial_as_a_range_of_one_unit(serial):
    parsed = parse_range(str(serial))
    assert parsed.serial_range == SerialRange(serial.sequence, serial.sequence + 1)
    assert len(parsed.serial_range) == 1
    assert (parsed.country, parsed.project_code, parsed.unit_kind, parsed.vintage) == (
        serial.country,
        serial.project_code,
        serial.unit_kind,
        serial.vintage,
    )


def test_range_string_writes_first_and_last_inclusive():
    text = SerialRange(1001, 2001).format("CN", "P7K2Q9", "E", 202503)
    assert text == "CN-P7K2Q9-E-202503-000000001001-000000002000"
    assert parse_range(text).serial_range == SerialRange(1001, 2001)


def test_range_string_covers_the_extreme_sequences():
    text = SerialRange(0, MAX_SEQUENCE).format("CN", "P7K2Q9", "T", 190001)
    assert text == "CN-P7K2Q9-T-190001-000000000000-999999999999"
    assert parse_range(text).serial_range.length == MAX_SEQUENCE


# Error detection ----------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(serials)
def test_one_changed_digit_is_detected(serial):
    text = str(serial)
    digit_positions = [i for i, c in enumerate(text) if c in string.digits]
    # At least every digit of vintage, sequence and check number is covered.
    assert len(digit_positions) >= 6 + 12 + 2
    for position in digit_positions:
        for digit in string.digits:
            if digit == text[position]:
                continue
            changed = text[:position] + digit + text[position + 1 :]
            with pytest.raises(SerialError) as caught:
                Serial.parse(changed)
            assert caught.value.code in {"bad_check_number", "malformed_serial"}, changed


@settings(max_examples=40, deadline=None)
@given(serials)
def test_one_changed_letter_is_detected(serial):
    text = str(serial)
    letter_positions = [i for i, c in enumerate(text) if c in string.ascii_uppercase]
    for position in letter_positions:
        for letter in string.ascii_uppercase:
            if letter == text[position]:
                continue
            changed = text[:position] + letter + text[position + 1 :]
            with pytest.raises(SerialError) as caught:
                Serial.parse(changed)
            assert caught.value.code in {"bad_check_number", "malformed_serial"}, changed


@settings(deadline=None)
@given(serials)
def test_swap_of_two_adjacent_different_characters_is_detected(serial):
    text = str(serial)
    for position in range(len(text) - 1):
        first, second = text[position], text[position + 1]
        if first == second:
            continue
        swapped = text[:position] + second + first + text[position + 2 :]
        if "-" not in first + second and numeric_form(swapped) == numeric_form(text):
            # Only letter/digit pairs such as "B1"/"1B" read the same once letters become
            # numbers; the next test pins that blind spot of the scheme.
            assert {first + second, second + first} & {"B1", "M2", "X3"}
            continue
        with pytest.raises(SerialError) as caught:
            Serial.parse(swapped)
        assert caught.value.code in {"bad_check_number", "malformed_serial"}, swapped


@pytest.mark.parametrize(("pair", "swapped"), [("B1", "1B"), ("M2", "2M"), ("X3", "3X")])
def test_swap_of_letter_and_digit_with_same_numeric_form_is_not_detected(pair, swapped):
    # B=11, M=22, X=33: "B1" and "1B" both read "111", so MOD 97-10 cannot tell them apart.
    # Project codes should avoid depending on this check alone (e.g. forbid such pairs).
    original = Serial("CN", pair + "AAAA", "E", 202503, 7)
    confused = Serial("CN", swapped + "AAAA", "E", 202503, 7)
    assert original.check_number() == confused.check_number()
    text = str(original)
    assert Serial.parse(text.replace(pair, swapped, 1)) == confused


@pytest.mark.parametrize(("canonical", "alias"), [("02", "99"), ("97", "00"), ("98", "01")])
def test_non_canonical_check_number_alias_is_rejected(canonical, alias):
    serial = find_serial_with_check(canonical)
    text = str(serial)
    aliased = text[:-2] + alias
    # The alias passes the bare modulo test but would not format back to the same string.
    assert int(numeric_form(aliased)) % 97 == 1
    with pytest.raises(SerialError) as caught:
        Serial.parse(aliased)
    assert caught.value.code == "bad_check_number"


def test_wrong_check_number_is_rejected_with_bad_check_number():
    with pytest.raises(SerialError) as caught:
        Serial.parse("CN-P7K2Q9-E-202503-000000001001-47")
    assert (caught.value.code, caught.value.field) == ("bad_check_number", "serial")


def test_parse_range_validates_the_check_number_of_a_single_serial():
    with pytest.raises(SerialError) as caught:
        parse_range("CN-P7K2Q9-E-202503-000000001001-47")
    assert caught.value.code == "bad_check_number"


# Malformed input ----------------------------------------------------------------------------

VALID = "CN-P7K2Q9-E-202503-000000001001-92"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "CN-P7K2Q-E-202503-000000001001-92",  # project code too short
        "CN-P7K2Q99-E-202503-000000001001-92",  # project code too long
        "C-P7K2Q9-E-202503-000000001001-92",  # country too short
        "CHN-P7K2Q9-E-202503-000000001001-92",  # country too long
        "C1-P7K2Q9-E-202503-000000001001-92",  # digit in country
        "CN-P7K2Q9-X-202503-000000001001-92",  # unknown unit kind
        "CN-P7K2Q9-EE-202503-000000001001-92",
        "CN-P7K2Q9-E-202513-000000001001-92",  # month 13
        "CN-P7K2Q9-E-202500-000000001001-92",  # month 00
        "CN-P7K2Q9-E-189912-000000001001-92",  # year before 1900
        "CN-P7K2Q9-E-20253-000000001001-92",
        "CN-P7K2Q9-E-202503-00000001001-92",  # sequence 11 digits
        "CN-P7K2Q9-E-202503-0000000001001-92",  # sequence 13 digits
        "CN-P7K2Q9-E-202503-00000000100A-92",  # non-digit in sequence
        "CN-P7K2Q9-E-202503-000000001001-9",  # check 1 digit
        "CN-P7K2Q9-E-202503-000000001001-920",  # check 3 digits
        "CN-P7K2Q9-E-202503-000000001001-9A",
        "CN-P7K2Q9-E-202503-000000001001",  # no check number
        "CNP7K2Q9E20250300000000100192",  # no dashes
        "CN-P7K2Q9-E-202503-000000001001-92-",
        "CN-P7K2Q9-E-202503-000000001001-92 x",
        "CN-P7K2Q9-E-202503 -000000001001-92",
        "CN_P7K2Q9_E_202503_000000001001_92",
        "CN-P7K2Q9-E-202503-000000001001-9\u0662",  # Arabic-Indic digit two
        "CN-P7K2Q9-E-202503-\uff10\uff10\uff10000001001-92",  # fullwidth zeros
        "C\u0131-P7K2Q9-E-202503-000000001001-92",  # dotless i uppercases to I
        "CN-P7K2Q9-E-202503-000000001001-000000002000",  # a range, not a serial
        None,
        1001,
    ],
)
def test_malformed_serial_is_rejected_with_malformed_serial(text):
    with pytest.raises(SerialError) as caught:
        Serial.parse(text)
    assert (caught.value.code, caught.value.field) == ("malformed_serial", "serial")


def test_lowercase_serial_is_accepted():
    assert Serial.parse(VALID.lower()) == EXAMPLE
    assert Serial.parse("cN-p7K2q9-e-202503-000000001001-92") == EXAMPLE


@pytest.mark.parametrize(
    "text",
    [
        "CN-P7K2Q9-E-202503-000000001001-00000000200",  # last 11 digits
        "CN-P7K2Q9-E-202503-00000000100-000000002000",  # first 11 digits
        "CN-P7K2Q9-Q-202503-000000001001-000000002000",  # unknown unit kind
        "CN-P7K2Q9-E-202513-000000001001-000000002000",  # month 13
        "CN-P7K2Q9-E-202503-000000001001-000000002000-3",
        "CN-P7K2Q9-E-202503-000000001001",
        "CN-P7K2Q9-E-202503-00000000100X-000000002000",
        "",
        None,
    ],
)
def test_malformed_range_string_is_rejected_with_malformed_range(text):
    with pytest.raises(SerialError) as caught:
        parse_range(text)
    assert (caught.value.code, caught.value.field) == ("malformed_range", "range")


def test_range_string_with_last_below_first_is_rejected_with_invalid_range():
    with pytest.raises(SerialError) as caught:
        parse_range("CN-P7K2Q9-E-202503-000000002000-000000001001")
    assert caught.value.code == "invalid_range"


def test_range_string_with_first_equal_to_last_is_one_unit():
    parsed = parse_range("CN-P7K2Q9-E-202503-000000001001-000000001001")
    assert parsed.serial_range == SerialRange(1001, 1002)


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        (("cn", "P7K2Q9", "E", 202503, 1), "invalid_country"),
        (("CN", "P7K2Q", "E", 202503, 1), "invalid_project_code"),
        (("CN", "p7k2q9", "E", 202503, 1), "invalid_project_code"),
        (("CN", "P7K2Q9", "e", 202503, 1), "invalid_unit_kind"),
        (("CN", "P7K2Q9", "EC", 202503, 1), "invalid_unit_kind"),
        (("CN", "P7K2Q9", "E", 202513, 1), "invalid_vintage"),
        (("CN", "P7K2Q9", "E", 189912, 1), "invalid_vintage"),
        (("CN", "P7K2Q9", "E", 1000001, 1), "invalid_vintage"),
        (("CN", "P7K2Q9", "E", "202503", 1), "invalid_vintage"),
        (("CN", "P7K2Q9", "E", 202503, -1), "sequence_out_of_range"),
        (("CN", "P7K2Q9", "E", 202503, MAX_SEQUENCE), "sequence_out_of_range"),
        (("CN", "P7K2Q9", "E", 202503, True), "sequence_out_of_range"),
        (("CN", "P7K2Q9", "E", 202503, 1.0), "sequence_out_of_range"),
    ],
)
def test_invalid_serial_fields_are_rejected_on_construction(fields, code):
    with pytest.raises(SerialError) as caught:
        Serial(*fields)
    assert caught.value.code == code


def test_serial_error_is_a_value_error_that_survives_pickling():
    error = SerialError("bad_check_number", "serial", "wrong check number")
    assert isinstance(error, ValueError)
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.code, copy.field, copy.message) == ("bad_check_number", "serial", error.message)


# Ranges -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lower", "upper"),
    [(5, 5), (5, 4), (-1, 3), (0, MAX_SEQUENCE + 1), (True, 3), (0, 2.0), ("1", "2")],
)
def test_empty_negative_or_oversized_range_is_rejected_with_invalid_range(lower, upper):
    with pytest.raises(SerialError) as caught:
        SerialRange(lower, upper)
    assert (caught.value.code, caught.value.field) == ("invalid_range", "range")


def test_range_relations_follow_half_open_bounds():
    r = SerialRange(10, 20)
    assert r.length == len(r) == 10
    assert r.contains(10) and r.contains(19)
    assert not r.contains(9) and not r.contains(20)
    assert r.contains_range(SerialRange(10, 20)) and r.contains_range(SerialRange(12, 13))
    assert not r.contains_range(SerialRange(19, 21))
    assert r.overlaps(SerialRange(19, 30)) and not r.overlaps(SerialRange(20, 30))
    assert r.is_adjacent(SerialRange(20, 30)) and r.is_adjacent(SerialRange(0, 10))
    assert not r.is_adjacent(SerialRange(21, 30)) and not r.is_adjacent(SerialRange(15, 30))
    assert r.intersection(SerialRange(15, 30)) == SerialRange(15, 20)
    assert r.intersection(SerialRange(20, 30)) is None


@st.composite
def nearby_range_pairs(draw: st.DrawFn) -> tuple[SerialRange, SerialRange]:
    """Two short ranges close enough together to overlap, touch or leave a small gap."""
    base = draw(st.integers(0, MAX_SEQUENCE - 100))
    bounds = []
    for _ in range(2):
        lower = base + draw(st.integers(0, 40))
        bounds.append(SerialRange(lower, lower + draw(st.integers(1, 40))))
    return bounds[0], bounds[1]


@given(nearby_range_pairs())
def test_range_relations_agree_with_sets_of_units(pair):
    a, b = pair
    set_a, set_b = set(range(a.lower, a.upper)), set(range(b.lower, b.upper))
    assert a.overlaps(b) == bool(set_a & set_b) == b.overlaps(a)
    assert a.contains_range(b) == (set_b <= set_a)
    touching = max(set_a) + 1 == min(set_b) or max(set_b) + 1 == min(set_a)
    assert a.is_adjacent(b) == (not set_a & set_b and touching) == b.is_adjacent(a)
    common = a.intersection(b)
    assert (set(range(common.lower, common.upper)) if common else set()) == set_a & set_b
    assert all(a.contains(sequence) for sequence in set_a)
    assert not a.contains(a.lower - 1) and not a.contains(a.upper)


@given(serial_ranges(), st.data())
def test_split_at_never_loses_duplicates_or_overlaps_units(serial_range, data):
    if serial_range.length < 2:
        return
    point = data.draw(st.integers(serial_range.lower + 1, serial_range.upper - 1))
    left, right = serial_range.split_at(point)
    assert left.length + right.length == serial_range.length
    assert left.upper == right.lower == point
    assert (left.lower, right.upper) == (serial_range.lower, serial_range.upper)
    assert left.is_adjacent(right) and not left.overlaps(right)
    assert left.merge(right) == right.merge(left) == serial_range


@given(serial_ranges(), st.data())
def test_split_off_never_loses_duplicates_or_overlaps_units(serial_range, data):
    quantity = data.draw(st.integers(1, serial_range.length))
    head, rest = serial_range.split_off(quantity)
    assert head.length == quantity
    assert head.lower == serial_range.lower
    if rest is None:
        assert quantity == serial_range.length
        assert head == serial_range
    else:
        assert head.length + rest.length == serial_range.length
        assert head.upper == rest.lower and rest.upper == serial_range.upper
        assert head.merge(rest) == serial_range


@given(serial_ranges(max_length=50), st.data())
def test_split_off_units_equal_the_original_units(serial_range, data):
    quantity = data.draw(st.integers(1, serial_range.length))
    parts = [part for part in serial_range.split_off(quantity) if part is not None]
    assert units(parts) == list(range(serial_range.lower, serial_range.upper))


@pytest.mark.parametrize("point", [10, 20, 9, 21, True, 15.0])
def test_split_at_a_point_not_strictly_inside_is_rejected(point):
    with pytest.raises(SerialError) as caught:
        SerialRange(10, 20).split_at(point)
    assert caught.value.code == "split_point_outside"


@pytest.mark.parametrize("quantity", [0, -1, 11, True, False, 2.0, "3", None])
def test_split_off_quantity_zero_too_large_or_not_int_is_rejected(quantity):
    with pytest.raises(SerialError) as caught:
        SerialRange(10, 20).split_off(quantity)
    assert (caught.value.code, caught.value.field) == ("quantity_out_of_range", "quantity")


@pytest.mark.parametrize("other", [SerialRange(21, 30), SerialRange(15, 30), SerialRange(10, 20)])
def test_merge_of_ranges_with_a_gap_or_overlap_is_rejected(other):
    with pytest.raises(SerialError) as caught:
        SerialRange(10, 20).merge(other)
    assert caught.value.code == "not_adjacent"


@given(disjoint_ranges())
def test_merge_adjacent_preserves_units_and_is_idempotent(ranges):
    merged = merge_adjacent(ranges)
    assert units(merged) == units(ranges)
    assert sum(r.length for r in merged) == sum(r.length for r in ranges)
    assert merge_adjacent(merged) == merged
    assert merged == sorted(merged)
    for previous, current in itertools.pairwise(merged):
        assert previous.upper < current.lower  # disjoint and not even touching


@given(disjoint_ranges(min_size=1), st.data())
def test_merge_adjacent_rejects_overlapping_ranges(ranges, data):
    victim = data.draw(st.sampled_from(ranges))
    overlapping = SerialRange(victim.lower, victim.lower + 1)
    with pytest.raises(SerialError) as caught:
        merge_adjacent([*ranges, overlapping])
    assert caught.value.code == "overlapping_ranges"


def test_merge_adjacent_of_nothing_is_nothing():
    assert merge_adjacent([]) == []
    assert merge_adjacent(iter([SerialRange(5, 6), SerialRange(3, 5)])) == [SerialRange(3, 6)]


@given(disjoint_ranges(min_size=1), st.data())
def test_take_quantity_conserves_units(ranges, data):
    total = sum(r.length for r in ranges)
    quantity = data.draw(st.integers(1, total))
    taken, remaining = take_quantity(ranges, quantity)
    assert sum(r.length for r in taken) == quantity
    taken_units, remaining_units = units(taken), units(remaining)
    assert not set(taken_units) & set(remaining_units)
    assert sorted(taken_units + remaining_units) == units(ranges)
    # Units are taken in serial order: everything taken comes before everything left.
    if remaining_units:
        assert taken_units[-1] < remaining_units[0]
    assert taken == sorted(taken) and remaining == sorted(remaining)
    # Only one input range is split, so at most one range more comes out than went in.
    assert len(taken) + len(remaining) <= len(ranges) + 1


def test_take_quantity_splits_one_range_and_keeps_other_boundaries():
    ranges = [SerialRange(30, 40), SerialRange(0, 10), SerialRange(10, 20)]
    taken, remaining = take_quantity(ranges, 15)
    assert taken == [SerialRange(0, 10), SerialRange(10, 15)]
    assert remaining == [SerialRange(15, 20), SerialRange(30, 40)]
    assert take_quantity(ranges, 30) == (sorted(ranges), [])


@pytest.mark.parametrize("quantity", [0, -5, 31, True, 1.0])
def test_take_quantity_out_of_range_is_rejected(quantity):
    with pytest.raises(SerialError) as caught:
        take_quantity([SerialRange(0, 10), SerialRange(20, 40)], quantity)
    assert (caught.value.code, caught.value.field) == ("quantity_out_of_range", "quantity")


def test_take_quantity_from_no_ranges_is_rejected():
    with pytest.raises(SerialError) as caught:
        take_quantity([], 1)
    assert caught.value.code == "quantity_out_of_range"


def test_take_quantity_rejects_overlapping_ranges():
    with pytest.raises(SerialError) as caught:
        take_quantity([SerialRange(0, 10), SerialRange(5, 15)], 3)
    assert caught.value.code == "overlapping_ranges"


def test_range_format_rejects_invalid_prefix():
    with pytest.raises(SerialError) as caught:
        SerialRange(1, 2).format("CN", "P7K2Q9", "Z", 202503)
    assert caught.value.code == "invalid_unit_kind"
