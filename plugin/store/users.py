"""Dashboard users and the key that signs their sessions, in the main database (SQLite or PostgreSQL).

Passwords are stored only as Argon2 hashes (hashed by the caller). The session key lives here, not in
a file, so every instance behind a load balancer signs and reads the same cookies.
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Boolean, Column, Integer, String, Table, Text, func, insert, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from ..access import ROLES
from ..domain.errors import EscalatorError
from .schema import UtcDateTime, metadata

users = Table(
    "users", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("role", String(16), nullable=False),
    Column("password_hash", Text, nullable=False),
    Column("active", Boolean, nullable=False, default=True),
    # Changes on every password change or deactivation, which ends every session signed before it.
    Column("session_epoch", String(32), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("last_login_at", UtcDateTime(), nullable=True),
    # Wrong passwords in a row, and until when the account refuses logins after too many of them.
    Column("failed_logins", Integer, nullable=False, default=0),
    Column("locked_until", UtcDateTime(), nullable=True),
)

web_secrets = Table(
    "web_secrets", metadata,
    Column("name", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)


class UserError(EscalatorError):
    """A user that cannot be created or changed as asked."""


@dataclass(frozen=True)
class User:
    id: int
    name: str
    role: str
    password_hash: str
    active: bool
    session_epoch: str
    created_at: datetime
    last_login_at: datetime | None = None
    failed_logins: int = 0
    locked_until: datetime | None = None

    def locked(self, now: datetime) -> bool:
        return self.locked_until is not None and self.locked_until > now


class UserStore:
    def __init__(self, engine: Engine):
        self.engine = engine

    def add(self, name: str, role: str, password_hash: str, now: datetime) -> User:
        _check_role(role)
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(users).values(name=name, role=role, password_hash=password_hash, active=True,
                                                  session_epoch=secrets.token_hex(8), created_at=now))
        except IntegrityError:
            raise UserError(f"a user named {name!r} already exists; use `escalator user passwd` or "
                            f"`escalator user role` to change it") from None
        return self.get(name)

    def get(self, name: str) -> User | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(users).where(users.c.name == name)).mappings().first()
        return User(**row) if row else None

    def all(self) -> list[User]:
        with self.engine.connect() as conn:
            return [User(**row) for row in conn.execute(select(users).order_by(users.c.name)).mappings()]

    def count(self) -> int:
        with self.engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(users)).scalar_one()

    def change(self, name: str, **values) -> User:
        """Set role, password_hash or active; a new password or a deactivation also ends its sessions."""
        if "role" in values:
            _check_role(values["role"])
        if "password_hash" in values or values.get("active") is False:
            values["session_epoch"] = secrets.token_hex(8)
        if "password_hash" in values:
            values.update(failed_logins=0, locked_until=None)
        with self.engine.begin() as conn:
            changed = conn.execute(update(users).where(users.c.name == name).values(**values)).rowcount
        if not changed:
            raise UserError(f"no user named {name!r}; `escalator user list` shows who exists")
        return self.get(name)

    def logged_in(self, name: str, now: datetime) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(users).where(users.c.name == name)
                         .values(last_login_at=now, failed_logins=0, locked_until=None))

    def failed_login(self, name: str, now: datetime, *, limit: int, lock_for: timedelta) -> None:
        """Count a wrong password; the `limit`-th in a row locks the account for `lock_for`."""
        with self.engine.begin() as conn:
            conn.execute(update(users).where(users.c.name == name)
                         .values(failed_logins=users.c.failed_logins + 1))
            conn.execute(update(users).where(users.c.name == name, users.c.failed_logins >= limit)
                         .values(failed_logins=0, locked_until=now + lock_for))

    def secret(self, name: str) -> str:
        """A random secret made once and shared by every instance (the first to ask makes it)."""
        query = select(web_secrets.c.value).where(web_secrets.c.name == name)
        try:
            with self.engine.begin() as conn:
                value = conn.execute(query).scalar()
                if value is None:
                    value = secrets.token_urlsafe(48)
                    conn.execute(insert(web_secrets).values(name=name, value=value))
                return value
        except IntegrityError:      # another process made it at the same moment: theirs is the one
            with self.engine.connect() as conn:
                return conn.execute(query).scalar_one()


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise UserError(f"unknown role {role!r}; choose one of {', '.join(ROLES)}")
