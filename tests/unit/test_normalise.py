"""Unit tests of the identifier normalisation shared by intake and correlator."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from ketenbus import normalise
from ketenbus.normalise import InvalidValue


class TestPostcode:
    """Postcodes become 4 digits + 2 upper-case letters without spaces."""

    @pytest.mark.parametrize(
        ("raw", "expected"),
        [
            ("3083 ab", "3083AB"),
            ("3083AB", "3083AB"),
            (" 1012  xk ", "1012XK"),
            ("9999zz", "9999ZZ"),
        ],
    )
    def test_normalises(self, raw: str, expected: str) -> None:
        assert expected == normalise.postcode(raw)

    @pytest.mark.parametrize(
        "raw", ["0123AB", "123AB", "3083A", "3083 A1", "30834AB", "", "ABCD12"]
    )
    def test_rejects(self, raw: str) -> None:
        with pytest.raises(InvalidValue, match="invalid postcode"):
            normalise.postcode(raw)

    def test_error_is_a_value_error(self) -> None:
        assert issubclass(InvalidValue, ValueError)


class TestHouseNumberParts:
    """House letter is one upper-case letter; additions lose spaces and hyphens."""

    @pytest.mark.parametrize(
        ("raw", "expected"), [("a", "A"), (" B ", "B"), ("", None), (None, None)]
    )
    def test_letter(self, raw: str | None, expected: str | None) -> None:
        assert expected == normalise.house_letter(raw)

    @pytest.mark.parametrize("raw", ["ab", "1", "-"])
    def test_letter_rejects(self, raw: str) -> None:
        with pytest.raises(InvalidValue, match="house letter"):
            normalise.house_letter(raw)

    @pytest.mark.parametrize(
        ("raw", "expected"),
        [("-2 hg", "2HG"), ("bis", "BIS"), ("2-3", "23"), (" ", None), (None, None)],
    )
    def test_addition(self, raw: str | None, expected: str | None) -> None:
        assert expected == normalise.addition(raw)

    def test_addition_rejects_long(self) -> None:
        with pytest.raises(InvalidValue, match="addition"):
            normalise.addition("verdieping3")

    @pytest.mark.parametrize("raw", [0, -1, 100000, True])
    def test_house_number_rejects(self, raw: int) -> None:
        with pytest.raises(InvalidValue, match="house number"):
            normalise.house_number(raw)


class TestAddressKey:
    """The dwelling key is postcode-number[-letter][-addition], or BAG-<id>."""

    def test_full(self) -> None:
        assert "3083AB-12-A-2HG" == normalise.address_key("3083AB", 12, "A", "2HG")

    def test_letter_only(self) -> None:
        assert "3083AB-12-A" == normalise.address_key("3083AB", 12, "A")

    def test_number_only(self) -> None:
        assert "3083AB-12" == normalise.address_key("3083AB", 12)

    def test_addition_without_letter(self) -> None:
        assert "3083AB-12-BIS" == normalise.address_key("3083AB", 12, None, "BIS")

    def test_bag_only(self) -> None:
        assert "BAG-0599010000012345" == normalise.address_key(
            None, None, bag_id_="0599010000012345"
        )

    def test_postcode_wins_over_bag(self) -> None:
        assert "3083AB-12" == normalise.address_key("3083AB", 12, bag_id_="0599010000012345")

    def test_nothing(self) -> None:
        with pytest.raises(InvalidValue):
            normalise.address_key(None, None)


class TestIdentifiers:
    """KvK, BAG id and municipality code have fixed digit counts."""

    def test_kvk_strips_spaces(self) -> None:
        assert "12345678" == normalise.kvk(" 1234 5678 ")

    @pytest.mark.parametrize("raw", ["1234567", "123456789", "1234567a"])
    def test_kvk_rejects(self, raw: str) -> None:
        with pytest.raises(InvalidValue, match="exactly 8 digits"):
            normalise.kvk(raw)

    def test_bag_id(self) -> None:
        assert "0599010000012345" == normalise.bag_id("0599 0100 0001 2345")

    def test_bag_id_rejects(self) -> None:
        with pytest.raises(InvalidValue, match="16 digits"):
            normalise.bag_id("059901000001234")

    def test_municipality(self) -> None:
        assert "0599" == normalise.municipality_code("0599")

    @pytest.mark.parametrize("raw", ["599", "05990", "gm0599"])
    def test_municipality_rejects(self, raw: str) -> None:
        with pytest.raises(InvalidValue, match="4 digits"):
            normalise.municipality_code(raw)


class TestTimestamps:
    """Timestamps need a zone and end up in UTC."""

    def test_converts_to_utc(self) -> None:
        local = datetime(2026, 5, 2, 11, 30, tzinfo=timezone(timedelta(hours=2)))
        assert datetime(2026, 5, 2, 9, 30, tzinfo=UTC) == normalise.to_utc(local)

    def test_rejects_naive(self) -> None:
        with pytest.raises(InvalidValue, match="no time zone"):
            normalise.to_utc(datetime(2026, 5, 2, 9, 30))


class TestBsn:
    """A BSN is 9 digits passing the elfproef; errors never echo it."""

    @pytest.mark.parametrize("raw", ["111222333", "123456782", "900000004"])
    def test_valid(self, raw: str) -> None:
        assert raw == normalise.bsn(raw)

    @pytest.mark.parametrize("raw", ["123456789", "111222334", "000000000"])
    def test_elfproef(self, raw: str) -> None:
        with pytest.raises(InvalidValue, match="elfproef") as caught:
            normalise.bsn(raw)
        assert raw not in str(caught.value)

    @pytest.mark.parametrize("raw", ["12345678", "1234567890", "12345678a"])
    def test_length(self, raw: str) -> None:
        with pytest.raises(InvalidValue, match="exactly 9 digits") as caught:
            normalise.bsn(raw)
        assert raw not in str(caught.value)


class TestPseudonym:
    """Pseudonyms are keyed, stable and do not contain the identifier."""

    def test_stable(self) -> None:
        assert normalise.pseudonym(b"k" * 32, "111222333") == normalise.pseudonym(
            b"k" * 32, "111222333"
        )

    def test_keyed(self) -> None:
        assert normalise.pseudonym(b"a" * 32, "111222333") != normalise.pseudonym(
            b"b" * 32, "111222333"
        )

    def test_hides_identifier(self) -> None:
        assert "111222333" not in normalise.pseudonym(b"k" * 32, "111222333")

    def test_hmac_sha256_hex(self) -> None:
        assert 64 == len(normalise.pseudonym(b"k" * 32, "111222333"))
