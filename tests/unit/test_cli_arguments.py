"""Argument types shared by the commands: bounds, NaN/infinity and the one-line wording."""

import argparse

import pytest

from model.cli import float_argument, parse_size


def test_float_argument_bounds_and_wording():
    positive = float_argument(minimum=0, above=True)
    assert positive("1e-3") == 0.001
    for bad in ("0", "-1", "nan", "inf"):
        with pytest.raises(argparse.ArgumentTypeError, match=f"expected a number > 0, got {bad}$"):
            positive(bad)
    with pytest.raises(argparse.ArgumentTypeError, match="expected a number > 0, got 'fast'"):
        positive("fast")
    opacity = float_argument(minimum=0, maximum=1, expected="a number from 0 to 1")
    assert (opacity("0"), opacity("1"), opacity("0.25")) == (0.0, 1.0, 0.25)
    with pytest.raises(argparse.ArgumentTypeError, match="expected a number from 0 to 1, got 1.5"):
        opacity("1.5")
    assert float_argument(minimum=2, maximum=3)("3") == 3.0
    with pytest.raises(argparse.ArgumentTypeError, match=r"expected a number >= 2 and <= 3, got 3.5"):
        float_argument(minimum=2, maximum=3)("3.5")


def test_parse_size():
    assert parse_size("960x540") == (960, 540)
    for bad in ("960", "0x540", "axb", "20000x10"):
        with pytest.raises(argparse.ArgumentTypeError):
            parse_size(bad)
