"""Raw HTTP to the test server: any bytes, any headers (the stop-route fuzz and origin tests).

``http.client`` rather than urllib: it sends exactly the body and headers given (urllib adds a
form Content-Type to every POST with a body) and honours no proxy variables.
"""

from __future__ import annotations

import http.client
import time
from dataclasses import dataclass

RAW_TIMEOUT_S = 30.0


@dataclass
class RawAnswer:
    status: int
    body: bytes
    seconds: float
    headers: dict[str, str]


def raw_post(port: int, path: str, body: bytes | None, headers: dict[str, str] | None = None,
             timeout: float = RAW_TIMEOUT_S) -> RawAnswer:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    started = time.monotonic()
    try:
        conn.request("POST", path, body=body, headers=dict(headers or {}))
        response = conn.getresponse()
        body = response.read()
        return RawAnswer(response.status, body, time.monotonic() - started, dict(response.getheaders()))
    finally:
        conn.close()
