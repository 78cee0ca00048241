import math

import numpy as np
import pytest

from fcunet_lib import checks


@pytest.mark.parametrize("value, expected", [(3, 3.0), (0.0217, 0.0217), (np.float32(2.5), 2.5),
                                             (np.int64(7), 7.0), ("1e-3", 1e-3)])
def test_positive_number_returns_a_plain_float(value, expected):
    number = checks.positive_number("step_nm", value, "nm")
    assert type(number) is float
    assert number == pytest.approx(expected)


@pytest.mark.parametrize("value", [0, -1.5, float("nan"), float("inf"), -math.inf, np.float64(-0.0)])
def test_positive_number_refuses_zero_negative_and_non_finite(value):
    with pytest.raises(ValueError, match=r"^step_nm must be a positive number \[nm\]; got "):
        checks.positive_number("step_nm", value, "nm")


@pytest.mark.parametrize("value", ["abc", None, [1.0, 2.0], 1 + 2j])
def test_positive_number_refuses_what_float_cannot_read(value):
    with pytest.raises(ValueError) as error:
        checks.positive_number("dose", value, "electrons")
    assert str(error.value) == f"dose must be a number [electrons]; got {value!r}"


def test_positive_number_message_shows_the_value_and_kind():
    with pytest.raises(ValueError) as error:
        checks.positive_number("energy_kv", -300, "kV", kind="voltage")
    assert str(error.value) == "energy_kv must be a positive voltage [kV]; got -300.0"
    with pytest.raises(ValueError) as error:
        checks.positive_number("factor", 0)
    assert str(error.value) == "factor must be a positive number; got 0.0"


def test_reciprocal_pixel_size():
    assert checks.reciprocal_pixel_size("pixel_size", 0.0217) == 0.0217
    with pytest.raises(ValueError) as error:
        checks.reciprocal_pixel_size("model_pixel_size", 0.0)
    assert str(error.value) == "model_pixel_size must be a positive reciprocal pixel size [1/Å]; got 0.0"
    with pytest.raises(ValueError, match=r"^pixel_size must be a number \[1/Å\]"):
        checks.reciprocal_pixel_size("pixel_size", "0.02 1/Å")


def test_is_integer():
    assert checks.is_integer(3) and checks.is_integer(np.int32(-2)) and checks.is_integer(np.uint8(0))
    for value in (True, np.bool_(True), 2.0, "2", None, np.array([1])):
        assert not checks.is_integer(value), value


@pytest.mark.parametrize("value", [1, 64, np.int64(5), np.uint16(3)])
def test_positive_integer_returns_a_plain_int(value):
    count = checks.positive_integer("batch_size", value)
    assert type(count) is int and count == int(value)


@pytest.mark.parametrize("value", [0, -3, 1.0, 1.5, "4", True, None])
def test_positive_integer_refuses_non_counts(value):
    with pytest.raises(ValueError) as error:
        checks.positive_integer("batch_size", value)
    assert str(error.value) == f"batch_size must be a positive integer; got {value!r}"


@pytest.mark.parametrize("value", [0, 1, 2**40, np.int64(12)])
def test_seed_returns_a_plain_int(value):
    seed = checks.seed(value)
    assert type(seed) is int and seed == int(value)


@pytest.mark.parametrize("value", [-1, 0.0, "0", False, None])
def test_seed_refuses_negative_and_non_integers(value):
    with pytest.raises(ValueError) as error:
        checks.seed(value)
    assert str(error.value) == f"seed must be a non-negative integer; got {value!r}"
