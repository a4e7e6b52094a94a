"""The My Number (個人番号, 12-digit individual number): format and check digit. Never log or store it."""

from __future__ import annotations

from jpki_bridge.errors import JpkiError

__all__ = [
    "MyNumberError",
    "check_my_number",
    "my_number_check_digit",
]


class MyNumberError(JpkiError):
    """A My Number has the wrong format or check digit (the message never contains the number)."""

    code = "invalidMyNumber"


def my_number_check_digit(first_eleven: str) -> str:
    """Compute the My Number check digit (番号法施行令 §8) for the first 11 digits."""
    if len(first_eleven) != 11 or not first_eleven.isascii() or not first_eleven.isdigit():
        raise ValueError("the My Number check digit needs exactly 11 ASCII digits")
    total = 0
    for n, digit in enumerate(reversed(first_eleven), start=1):
        weight = n + 1 if n <= 6 else n - 5
        total += int(digit) * weight
    remainder = total % 11
    return "0" if remainder <= 1 else str(11 - remainder)


def check_my_number(value: str) -> str:
    """Return a My Number unchanged if it is 12 ASCII digits with the right check digit; raise MyNumberError."""
    if len(value) != 12 or not value.isascii() or not value.isdigit():
        raise MyNumberError("a My Number is exactly 12 digits")
    if my_number_check_digit(value[:11]) != value[11]:
        raise MyNumberError("the My Number's check digit is wrong")
    return value
