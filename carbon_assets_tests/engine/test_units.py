import pytest

from carbon_assets.engine import units


@pytest.mark.parametrize(
    ("src", "dst", "factor"),
    [
        ("MWh", "kWh", 1000.0),
        ("kWh", "MWh", 0.001),
        ("GJ", "kWh", 277.777777777778),  # 1 GJ = 1e9 J / 3.6e6 J
        ("kWh", "GJ", 0.0036),
        ("GWh", "MWh", 1000.0),
        ("m3", "litres", 1000.0),
        ("cubic metres", "L", 1000.0),
        ("litres", "m3", 0.001),
        ("million litres", "m3", 1000.0),
        ("km", "km", 1.0),
        ("miles", "km", 1.609344),
        ("t.km", "tonne.km", 1.0),
        ("tkm", "kg*km", 1000.0),
        ("passenger.km", "pkm", 1.0),
        ("tonnes", "kg", 1000.0),
        ("room nights", "Room per night", 1.0),
    ],
)
def test_conversion_factors(src, dst, factor):
    assert units.conversion_factor(src, dst) == pytest.approx(factor, rel=1e-14)


def test_exact_round_numbers():
    # pint's float path gives 999.9999999999999 here; hand-checked totals need 1000 exactly
    assert units.conversion_factor("m3", "L") == 1000.0


def test_dimension_mismatch_is_an_error():
    with pytest.raises(units.DimensionMismatch, match="cannot convert 'litres'"):
        units.conversion_factor("litres", "kWh")
    with pytest.raises(units.DimensionMismatch):
        units.conversion_factor("passenger.km", "t.km")


def test_calorific_basis_is_kept_distinct():
    assert units.parse_unit("kWh (Gross CV)") == units.ParsedUnit("kWh", "gross")
    assert units.parse_unit("kWh PCI") == units.ParsedUnit("kWh", "net")
    assert units.conversion_factor("kWh PCS", "kWh (Gross CV)") == 1.0
    with pytest.raises(units.DimensionMismatch, match="calorific basis"):
        units.conversion_factor("kWh PCI", "kWh (Gross CV)")


def test_unknown_unit():
    with pytest.raises(units.UnitError, match="bananas"):
        units.parse_unit("bananas")
    with pytest.raises(units.UnitError):
        units.parse_unit("")
