"""Passwords of dashboard users: Argon2id hashes (argon2-cffi's defaults) and the rules a new one meets."""
from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_LENGTH = 10
hasher = PasswordHasher()
# Checked against when the name is unknown, so a wrong name takes as long as a wrong password.
_DUMMY_HASH = hasher.hash("no such user")


def hash_password(password: str) -> str:
    return hasher.hash(password)


def verify(stored_hash: str | None, password: str) -> bool:
    """Whether `password` matches; with no stored hash, spend the same time and say no."""
    try:
        return hasher.verify(stored_hash or _DUMMY_HASH, password) and stored_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    return hasher.check_needs_rehash(stored_hash)


def password_problem(password: str, confirm: str | None = None) -> str | None:
    if len(password) < MIN_LENGTH:
        return f"The password needs at least {MIN_LENGTH} characters."
    if confirm is not None and confirm != password:
        return "The two passwords differ."
    return None


def name_problem(name: str) -> str | None:
    if not name or len(name) > 64 or any(c.isspace() or c == ":" for c in name):
        return "A user name is 1 to 64 characters, without spaces or colons."
    return None
