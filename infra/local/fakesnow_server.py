"""fakesnow's HTTP server for the tests, with the response fields real Snowflake sends.

Run: python fakesnow_server.py PORT

fakesnow 0.12.1 speaks Snowflake's wire protocol (login, query, abort, monitoring) on
plain http, but leaves out fields that real Snowflake always sends and that strict clients
(firn, our Snowflake adapter's client) require. This wrapper adds exactly those, nothing
else, so the client runs its production code path unchanged:

  login  /session/v1/login-request
    data.sessionId                 real Snowflake: the session's numeric id
    data.masterToken               the token used to renew the session token
    data.validityInSeconds         session token lifetime (Snowflake: 3600)
    data.masterValidityInSeconds   master token lifetime (Snowflake: 14400)
    data.sessionInfo.roleName      the session's role
  query  /queries/v1/query-request
    data.returned                  rows in this response (fakesnow sends only `total`)
    data.finalRoleName             the role the statement ran as
    data.version                   result format version (Snowflake: 1)
  errors
    data.age                       Snowflake: 0 on a fresh error
  status /monitoring/queries/{id}
    data.queries[].id              the query id the status belongs to

One fakesnow bug is fixed, because it makes every COPY of a file with 10 or more columns
fail: fakesnow selects `column0, column1, …` from DuckDB's `read_csv(header = false)`, but
DuckDB zero-pads those names when there are 10 or more (`column00` … `column14`).

Everything else (SQL, results, errors, stages, COPY) is fakesnow's own behaviour.
"""

from __future__ import annotations

import json
import sys

import fakesnow.copy_into as copy_into
import uvicorn
from fakesnow.server import app as fakesnow_app
from sqlglot import exp

_inserts = copy_into._inserts


def _padded_inserts(*args, **kwargs):
    inserts = _inserts(*args, **kwargs)
    for ins in inserts:
        select = ins.expression
        cols = select.expressions if isinstance(select, exp.Select) else []
        names = [c.name for c in cols if isinstance(c, exp.Column)]
        if len(names) >= 10 and all(n == f"column{i}" for i, n in enumerate(names)):
            width = len(str(len(names) - 1))
            select.set("expressions", [exp.column(f"column{i:0{width}d}") for i in range(len(names))])
    return inserts


copy_into._inserts = _padded_inserts


def patch(path: str, body: dict) -> dict:
    data = body.get("data")
    if not isinstance(data, dict):
        return body
    if path.endswith("/login-request") and body.get("success"):
        data.setdefault("sessionId", 1)
        data.setdefault("masterToken", "fakesnow-master-" + str(data.get("token", ""))[:16])
        data.setdefault("validityInSeconds", 3600)
        data.setdefault("masterValidityInSeconds", 14400)
        info = data.setdefault("sessionInfo", {})
        info.setdefault("roleName", "SYSADMIN")
    elif path.endswith("/query-request"):
        if body.get("success"):
            rows = data.get("rowset")
            data.setdefault("returned", len(rows) if isinstance(rows, list) else data.get("total", 0))
            data.setdefault("finalRoleName", "SYSADMIN")
            data.setdefault("version", 1)
        else:
            data.setdefault("age", 0)
    elif "/monitoring/queries/" in path:
        qid = path.rsplit("/", 1)[-1]
        for q in data.get("queries", []):
            q.setdefault("id", qid)
    return body


async def app(scope, receive, send):
    if scope["type"] != "http":
        return await fakesnow_app(scope, receive, send)
    start: dict = {}
    chunks: list[bytes] = []

    async def capture(message):
        if message["type"] == "http.response.start":
            start.update(message)
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                body = b"".join(chunks)
                headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
                is_json = any(k.lower() == b"content-type" and b"json" in v for k, v in headers)
                if is_json and body:
                    try:
                        body = json.dumps(patch(scope["path"], json.loads(body))).encode()
                    except ValueError:
                        pass
                headers.append((b"content-length", str(len(body)).encode()))
                await send({**start, "headers": headers})
                await send({"type": "http.response.body", "body": body})

    await fakesnow_app(scope, receive, capture)


if __name__ == "__main__":
    port = int(sys.argv[1])
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")
