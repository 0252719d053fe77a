"""argon2id password hashing, run off the event loop (a hash takes tens of milliseconds), and
the rules a new password must pass."""

from __future__ import annotations

import asyncio
from functools import cache
from importlib import resources

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError


class Passwords:
    def __init__(self, *, time_cost: int, memory_kib: int, parallelism: int) -> None:
        self._hasher = PasswordHasher(
            time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism
        )
        # Verifying against this when the user does not exist keeps the timing the same.
        self._dummy = self._hasher.hash("not a real password")

    async def hash(self, password: str) -> str:
        return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, stored_hash: str | None, password: str) -> bool:
        return await asyncio.to_thread(self._verify, stored_hash or self._dummy, password)

    def _verify(self, stored_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(stored_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, stored_hash: str) -> bool:
        return self._hasher.check_needs_rehash(stored_hash)


MIN_LENGTH = 10


def password_problem(password: str, username: str) -> str | None:
    """Why a new password is refused, or None. Lengths count characters, spaces at either end
    not included; the user name does not count towards the length (so "ann" cannot choose
    "ann" or "Ann1234567", but a long phrase may mention it)."""
    text = password.strip()
    if len(text) < MIN_LENGTH:
        return f"must have at least {MIN_LENGTH} characters besides spaces at either end"
    lowered, name = text.lower(), username.strip().lower()
    if name and len(lowered.replace(name, "")) < MIN_LENGTH:
        return f"must have at least {MIN_LENGTH} characters besides the user name"
    if len(set(lowered)) == 1 or lowered in common_passwords():
        return "is too common: it is among the first that guessers try"
    return None


@cache
def common_passwords() -> frozenset[str]:
    """Passwords from the lists guessers start with, lower case (crm_core/common_passwords.txt)."""
    text = resources.files("crm_core").joinpath("common_passwords.txt").read_text("utf-8")
    return frozenset(
        line.strip().lower() for line in text.splitlines() if line.strip() and line[0] != "#"
    )
