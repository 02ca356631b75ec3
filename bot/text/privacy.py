"""Masking of residents' personal data in what reaches more than the handling official.

Residents' text is stored as written (the handling official may need to call back); summaries, digests,
reports and supervisors' alerts show it through ``mask``:

* mainland mobile numbers, also written with spaces or dashes and with +86 / 0086: ``138****1111``;
* 18-digit ID numbers (last character may be X): the first 6 and the last 4 kept,
  ``110101********1234``;
* bank card numbers of 16 to 19 digits (also in groups of four): only the last 4 kept;
* e-mail addresses: the first character of the name kept, ``z***@example.com``.

Numbers that are part of a longer run of digits are left alone, and so are ticket numbers (Q12), dates,
times and amounts.
"""

from __future__ import annotations

import re

_NOT_DIGIT_BEFORE = r"(?<![0-9A-Za-z])"
_NOT_DIGIT_AFTER = r"(?![0-9A-Za-z])"

_ID_NUMBER = re.compile(
    _NOT_DIGIT_BEFORE
    + r"(\d{6})((?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01]))(\d{3}[0-9Xx])"
    + _NOT_DIGIT_AFTER
)
_BANK_CARD = re.compile(
    _NOT_DIGIT_BEFORE + r"(?:\d{16,19}|\d{4}(?:[ -]\d{4}){3}(?:[ -]?\d{1,3})?)" + _NOT_DIGIT_AFTER
)
_PHONE = re.compile(
    r"(?<![0-9A-Za-z+])((?:\+|00)86[ -]?|86[ -])?(1[3-9]\d)[ -]?(\d{4})[ -]?(\d{4})"
    + _NOT_DIGIT_AFTER
)
_EMAIL = re.compile(
    r"(?<![A-Za-z0-9._%+-])([A-Za-z0-9])[A-Za-z0-9._%+-]*@"
    r"([A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*"
    r"\.[A-Za-z]{2,})"
)


def _card(match: re.Match[str]) -> str:
    digits = re.sub(r"[ -]", "", match.group(0))
    return "*" * (len(digits) - 4) + digits[-4:]


def mask(text: str) -> str:
    """``text`` with phone, ID-card and bank-card numbers and e-mail addresses masked."""
    if not text:
        return text
    text = _EMAIL.sub(lambda m: f"{m.group(1)}***@{m.group(2)}", text)
    text = _ID_NUMBER.sub(lambda m: f"{m.group(1)}********{m.group(3)[-4:]}", text)
    text = _BANK_CARD.sub(_card, text)
    return _PHONE.sub(lambda m: f"{m.group(1) or ''}{m.group(2)}****{m.group(4)}", text)
