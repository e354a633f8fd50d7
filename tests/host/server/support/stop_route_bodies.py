"""Generated request bodies for fuzzing POST /nested_diffusion/stop, each labelled with what the
route must answer: "ok" bodies (empty, {}, {"prompt_id": <string or null>}) get 200 or 409;
everything else gets 400. "stop_all" marks the ok bodies that address every running prompt."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass


@dataclass
class Body:
    kind: str
    data: bytes | None
    content_type: str | None
    ok: bool
    stop_all: bool = False

    def headers(self) -> dict[str, str]:
        return {} if self.content_type is None else {"Content-Type": self.content_type}


CONTENT_TYPES = (None, "application/json", "application/json; charset=utf-8", "text/plain",
                 "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/octet-stream",
                 "application/json; charset=latin-1", "application/json; charset=no-such-charset", "")


def _text(rng: random.Random, length: int) -> str:
    alphabet = "abcdef0123456789-_ éß\u65e5\u672c\u202e\U0001f600\\\"\x00\x1f"
    return "".join(rng.choice(alphabet) for _ in range(length))


def _nested(depth: int, kind: str) -> bytes:
    if kind == "array":
        return b"[" * depth + b"]" * depth
    return b'{"a":' * depth + b"1" + b"}" * depth


def _malformed(rng: random.Random) -> tuple[str, bytes]:
    choice = rng.randrange(16)
    if choice == 0:
        return "not utf-8", rng.choice([b"\xff\xfe", b"\xff\xfe{\x00}\x00", b"{\"prompt_id\": \"\xc3\x28\"}",
                                        bytes(rng.randrange(128, 256) for _ in range(rng.randrange(1, 64)))])
    if choice == 1:
        return "random bytes", bytes(rng.randrange(256) for _ in range(rng.randrange(1, 2048)))
    if choice == 2:
        return "not json", rng.choice([b"stop", b"prompt_id=abc", b"{", b"}", b"{'prompt_id': 'x'}", b"{prompt_id}",
                                       b'{"prompt_id": "x",}', b"\xef\xbb\xbf{}", b'{"prompt_id": "x"} trailing'])
    if choice == 3:
        return "deeply nested", _nested(rng.choice([50, 1000, 20_000, 200_000]), rng.choice(["array", "object"]))
    if choice == 4:
        return "array", json.dumps(rng.choice([[], [1], ["prompt_id"], [{"prompt_id": "x"}], [None] * 100])).encode()
    if choice == 5:
        return "number", rng.choice([b"0", b"-1", b"1e999", b"3.14", b"NaN", b"Infinity", b"1" * 5000])
    if choice == 6:
        return "null or bool", rng.choice([b"null", b"true", b"false"])
    if choice == 7:
        return "json string", json.dumps(_text(rng, rng.randrange(0, 300))).encode()
    if choice == 8:
        return "prompt_id of a wrong type", json.dumps(
            {"prompt_id": rng.choice([0, 1.5, True, False, [], ["x"], {}, {"id": "x"}, -(2**70)])}).encode()
    if choice == 9:
        key = rng.choice(["promptid", "id", "prompt", "stop", ""])
        return "unknown keys", json.dumps({key: _text(rng, 8)}).encode()
    if choice == 10:
        return "prompt_id and unknown keys", json.dumps({"prompt_id": _text(rng, 8), "all": True}).encode()
    if choice == 11:
        return "huge array", b"[" + b"0," * rng.randrange(10_000, 500_000) + b"0]"
    if choice == 12:
        return "multipart form", b'--x\r\nContent-Disposition: form-data; name="prompt_id"\r\n\r\nabc\r\n--x--\r\n'
    if choice == 13:
        return "NaN prompt_id", b'{"prompt_id": NaN}'
    if choice == 14:
        return "duplicate key, last wrong", b'{"prompt_id": "a", "prompt_id": 5}'
    return "truncated", json.dumps({"prompt_id": _text(rng, 20)}).encode()[:rng.randrange(1, 20)]


def _well_formed(rng: random.Random) -> tuple[str, bytes | None, bool]:
    choice = rng.randrange(7)
    if choice == 0:
        return "no body", None, True
    if choice == 1:
        return "empty or blank", rng.choice([b"", b" ", b"\n\t "]), True
    if choice == 2:
        return "{}", rng.choice([b"{}", b" { } ", b"{\n}"]), True
    if choice == 3:
        return "null prompt_id", b'{"prompt_id": null}', True
    if choice == 4:
        length = rng.choice([1_000, 20_000, 400_000])
        return "long prompt_id", json.dumps({"prompt_id": _text(rng, 1_000) * (length // 1_000)}).encode(), False
    if choice == 5:
        return "empty prompt_id", b'{"prompt_id": ""}', False
    return "prompt_id", json.dumps({"prompt_id": _text(rng, rng.randrange(1, 64))}, ensure_ascii=rng.random() < 0.5) \
        .encode(), False


def stop_route_bodies(count: int, seed: int = 0) -> list[Body]:
    """``count`` bodies, about a third well-formed, with a random Content-Type each (the route
    ignores it, as ComfyUI's own JSON routes do)."""
    rng = random.Random(seed)
    bodies = [Body("non-utf-8 (the reported bug)", b"\xff\xfe", "application/json", ok=False)]
    while len(bodies) < count:
        content_type = rng.choice(CONTENT_TYPES)
        if rng.random() < 0.35:
            kind, data, stop_all = _well_formed(rng)
            bodies.append(Body(kind, data, content_type, ok=True, stop_all=stop_all))
        else:
            kind, data = _malformed(rng)
            bodies.append(Body(kind, data, content_type, ok=False))
    return bodies
