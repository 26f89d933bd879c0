"""Request/response types and small parsing helpers shared by the ``/api/v1`` route handlers."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Callable, Iterable
from urllib.parse import parse_qsl

from .constants import SELF_USER_ID
from .errors import bad_request, not_found
from .pagination import Query

JSON_TYPE = "application/json; charset=utf-8"


@dataclass
class ApiRequest:
    method: str
    path: str
    query: Query
    headers: dict  # lower-case names
    body: bytes = b""
    base_url: str = "http://127.0.0.1"
    user_id: int = SELF_USER_ID  # whose token made the request: the teacher, or a student (student_token)

    @property
    def as_student(self) -> bool:
        return self.user_id != SELF_USER_ID

    def params(self) -> dict:
        """Body parameters, JSON or form-encoded (Rails accepts both); query parameters as fallback."""
        out = {k: v for k, v in self.query.pairs}
        if not self.body:
            return out
        ctype = self.headers.get("content-type", "")
        if "json" in ctype:
            try:
                payload = json.loads(self.body)
            except ValueError:
                raise bad_request({"errors": [{"message": "Invalid JSON body"}]}) from None
            if isinstance(payload, dict):
                out.update(payload)
        else:
            out.update(parse_qsl(self.body.decode("utf-8", "replace"), keep_blank_values=True))
        return out


@dataclass
class ApiResponse:
    status: int = 200
    payload: object = None
    body: bytes | None = None
    content_type: str = JSON_TYPE
    headers: list = field(default_factory=list)
    rows: int = 0

    def render(self) -> bytes:
        if self.body is None:
            self.body = b"" if self.payload is None and self.status == 304 else json.dumps(
                self.payload, separators=(",", ":")).encode()
        return self.body


def _int_id(raw: str) -> int:
    if not raw.isdigit():
        raise not_found()
    return int(raw)


def _truthy(value) -> bool:
    return str(value).lower() in ("1", "true", "t", "yes", "on")



def parse_time_params(query: Query, names: Iterable[str], parser: Callable[[str], float | None],
                      message: str) -> dict[str, float]:
    """Parse the non-empty time parameters ``names`` with ``parser``; 400 ``{message} for {name}``
    (as ``{"errors": {name: ...}}``) on the first one it rejects."""
    out = {}
    for name in names:
        value = query.get(name)
        if value:
            ts = parser(value)
            if ts is None:
                raise bad_request({"errors": {name: f"{message} for {name}"}})
            out[name] = ts
    return out
