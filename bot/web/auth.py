"""Passwords, login throttling and CSRF tokens for the console.

Passwords are hashed with argon2id (argon2-cffi); only the hash is stored. Failed logins are counted
per name and per client address: after ``MAX_FAILURES`` within ``WINDOW`` further attempts are
refused until the window has passed, whatever the password. Every form carries the session's CSRF
token, compared in constant time.
"""

from __future__ import annotations

import hmac
import secrets
from collections import deque
from collections.abc import Callable
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_PASSWORD_LENGTH = 8
MAX_FAILURES = 5
WINDOW = timedelta(minutes=15)

_hasher = PasswordHasher()


class PasswordRefused(ValueError):
    """A password too weak to store; the message is for people."""


def hash_password(password: str) -> str:
    """The argon2id hash of ``password``; refuses one shorter than ``MIN_PASSWORD_LENGTH``."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise PasswordRefused(f"密码至少需要 {MIN_PASSWORD_LENGTH} 个字符")
    return _hasher.hash(password)


def password_matches(password_hash: str, password: str) -> bool:
    """True when ``password`` is the one ``password_hash`` was made from."""
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


# A hash to verify against when the name is unknown, so an unknown name takes as long as a wrong
# password and the timing does not tell which names exist.
_DECOY = _hasher.hash(secrets.token_hex(16))


def check_login(password_hash: str | None, password: str) -> bool:
    """``password_matches``, spending the same time when there is no account."""
    if password_hash is None:
        password_matches(_DECOY, password)
        return False
    return password_matches(password_hash, password)


class LoginThrottle:
    """Counts failed logins per key (a name, an address) in a sliding window."""

    def __init__(self, clock: Callable[[], datetime]) -> None:
        self._clock = clock
        self._failures: dict[str, deque[datetime]] = {}

    def _recent(self, key: str) -> deque[datetime]:
        found = self._failures.setdefault(key, deque())
        cutoff = self._clock() - WINDOW
        while found and found[0] <= cutoff:
            found.popleft()
        return found

    def wait(self, *keys: str) -> timedelta | None:
        """How long until any of ``keys`` may try again; None when all may try now."""
        longest: timedelta | None = None
        for key in keys:
            found = self._recent(key)
            if len(found) >= MAX_FAILURES:
                left = found[0] + WINDOW - self._clock()
                longest = left if longest is None else max(longest, left)
        return longest

    def failed(self, *keys: str) -> None:
        """Count a failed attempt against each of ``keys``."""
        for key in keys:
            self._recent(key).append(self._clock())

    def succeeded(self, *keys: str) -> None:
        """Forget the failures of ``keys`` after a successful login."""
        for key in keys:
            self._failures.pop(key, None)


def new_token() -> str:
    """A fresh random token (CSRF, session secrets)."""
    return secrets.token_urlsafe(32)


def token_matches(expected: str | None, given: str | None) -> bool:
    """Constant-time comparison of a form's CSRF token with the session's."""
    return bool(expected) and bool(given) and hmac.compare_digest(str(expected), str(given))
