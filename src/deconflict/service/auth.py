"""Members, roles and bearer tokens.

Tokens are 256-bit random strings shown once when issued; the database keeps only their SHA-256
(a fast hash is right here: the token has full entropy, unlike a password, so it cannot be guessed
from its hash).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from enum import Enum

TOKEN_PREFIX = "dcf_"


class Role(str, Enum):
    OPERATOR = "operator"  # a party's operator: reads what the party may see, writes the party's data
    OBSERVER = "observer"  # reads what its party may see, writes nothing
    CELL = "cell"  # the de-confliction cell: sees everything, moderates the hotline


@dataclass(frozen=True)
class Principal:
    """Who is calling: member id and name, party (None for the cell) and role."""

    member: int
    name: str
    party: str | None
    role: Role

    @property
    def is_cell(self) -> bool:
        return self.role is Role.CELL

    @property
    def can_write(self) -> bool:
        return self.role is not Role.OBSERVER

    def sees_party(self, party: str) -> bool:
        """Whether this caller sees everything of ``party``'s own data."""
        return self.is_cell or party == self.party

    def actor(self) -> dict:
        """How the audit record names this caller."""
        return {"member": self.member, "name": self.name, "party": self.party, "role": self.role.value}


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
