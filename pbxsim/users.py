"""AMI users (manager.conf accounts): secret, read and write classes, write timeout."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from pbxsim.events import parse_classes


@dataclass(frozen=True)
class AmiUser:
    username: str
    secret: str
    read: frozenset[str]
    write: frozenset[str]
    write_timeout: float = 5.0  # seconds a write may stall before the session is dropped

    @classmethod
    def create(
        cls,
        username: str,
        secret: str,
        *,
        read: str = "all",
        write: str = "all",
        write_timeout: float = 5.0,
    ) -> AmiUser:
        """Classes as manager.conf spells them: ``read = call,agent,dialplan``."""
        return cls(username, secret, parse_classes(read), parse_classes(write), write_timeout)

    def secret_matches(self, secret: str) -> bool:
        return hmac.compare_digest(secret.encode(), self.secret.encode())

    def key_matches(self, challenge: str, key: str) -> bool:
        """MD5 challenge login: ``Key`` is md5(challenge + secret) in hex."""
        expected = hashlib.md5((challenge + self.secret).encode()).hexdigest()
        return hmac.compare_digest(key.lower().encode(), expected.encode())
