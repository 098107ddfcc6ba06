"""Check digits for numbers callers type: a typo caught in the IVR saves a call-taker's minute.

``luhn``: the card/IMEI scheme (catches every single-digit error and most swaps).
``mod11``: the work-order scheme used by the default flow: weights 2, 3, 4, 5, 6, 7 repeating
from the rightmost payload digit, check digit = (11 - sum mod 11) mod 11; a payload whose check
would be 10 is never issued, so such a number is always invalid. Catches every single-digit
error and every swap of adjacent digits.
"""

from __future__ import annotations


def luhn_valid(number: str) -> bool:
    if not number.isdigit() or len(number) < 2:
        return False
    total = 0
    for i, ch in enumerate(reversed(number)):
        d = int(ch)
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def mod11_check_digit(payload: str) -> int | None:
    """The check digit for ``payload``, or None when it would be 10 (never issued)."""
    total = sum(int(ch) * (2 + i % 6) for i, ch in enumerate(reversed(payload)))
    check = (11 - total % 11) % 11
    return None if check == 10 else check


def mod11_valid(number: str) -> bool:
    if not number.isdigit() or len(number) < 2:
        return False
    check = mod11_check_digit(number[:-1])
    return check is not None and check == int(number[-1])


def with_mod11(payload: str) -> str:
    """``payload`` with its check digit appended (for tests and work-order issuing)."""
    check = mod11_check_digit(payload)
    if check is None:
        raise ValueError(f"payload {payload!r} has check value 10 and is never issued")
    return payload + str(check)


VALIDATORS = {"luhn": luhn_valid, "mod11": mod11_valid}
