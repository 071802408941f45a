"""The documented range of every input the service takes that the plan and state-vector schemas
do not already bound (docs/service.md, "Input ranges"). A value outside is a 422 naming the field; nothing
of the request is stored. Limits also bound the work one request can cause (a hostile party's
batch must not stall the others).
"""

from __future__ import annotations

import re
from typing import Any

from deconflict.service.errors import BadRequest

MAX_PARTY_ID = 32  # letters, digits, - and _
PARTY_ID_PATTERN = r"^[A-Za-z0-9_-]{1,32}$"
MAX_NAME = 100  # a member's name
MAX_SUBJECT = 200  # a thread's subject
MAX_TEXT = 4000  # a hotline message
MAX_THREAD_PARTIES = 32
MAX_ANSWER_WITHIN = 86_400.0  # s: a proposal's deadline is at most a day away
MAX_ROW_ID = 2**31 - 1  # ids of threads and messages (32-bit on every database)

# request bodies, bytes: a route reads at most this much and answers 413 beyond it
MAX_BODY = 1 * 2**20
MAX_PLAN_BATCH_BODY = 16 * 2**20
MAX_TRACK_BODY = 64 * 2**20  # about 300,000 state vectors as JSON columns

MAX_PLAN_BATCH = 1000  # plans per batch request
MAX_CONFLICTS_PER_REQUEST = 50  # strategic conflicts one plan request may raise (about 3 ms each under the lock)

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # tab, newline and return are text


def check_text(value: Any, field: str, longest: int, empty: bool = True) -> str:
    """``value`` as text of at most ``longest`` characters without control characters (a NUL
    cannot be stored in PostgreSQL text)."""
    if not isinstance(value, str):
        raise BadRequest(f"{field}: expected text")
    if not empty and not value.strip():
        raise BadRequest(f"{field}: must not be empty")
    if len(value) > longest:
        raise BadRequest(f"{field}: at most {longest} characters, got {len(value)}")
    if _CONTROL.search(value):
        raise BadRequest(f"{field}: holds a control character")
    return value


def check_row_id(value: int | None, field: str) -> int | None:
    if value is not None and not 1 <= value <= MAX_ROW_ID:
        raise BadRequest(f"{field}: expected an id between 1 and {MAX_ROW_ID}, got {value}")
    return value
