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

Two fakesnow bugs are fixed:
  - every COPY of a file with 10 or more columns fails: fakesnow selects `column0, column1, …`
    from DuckDB's `read_csv(header = false)`, but DuckDB zero-pads those names when there are
    10 or more (`column00` … `column14`);
  - `create or replace table A clone B` loses its `or replace` (fakesnow rewrites a table
    clone to `create table A as select * from B`), so replacing an existing table fails.

Two statements fakesnow cannot run are emulated, because the publish step depends on them
(the end-to-end harness publishes through the real publish Lambda):

  create or replace schema NEXT clone SRC   NEXT is dropped, created, and every table of SRC
                                            is copied into it (real Snowflake: a zero-copy clone)
  alter schema A swap with B                the two schemas' tables trade places (real
                                            Snowflake: one atomic rename; here three copies
                                            through a scratch schema, not atomic, test-only)

They run on the session's own fakesnow connection; the request then continues as a harmless
statement, so the answer is fakesnow's own "Statement executed successfully." Everything else
(SQL, results, errors, stages, COPY) is fakesnow's own behaviour.
"""

from __future__ import annotations

import gzip
import json
import re
import sys

import fakesnow.copy_into as copy_into
import uvicorn
from fakesnow.server import app as fakesnow_app
from fakesnow.server import sessions
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

import fakesnow.transforms as _transforms  # noqa: E402
import fakesnow.transforms.transforms as _transforms_impl  # noqa: E402

_create_clone = _transforms_impl.create_clone


def _create_clone_keeping_replace(expression):
    replace = isinstance(expression, exp.Create) and bool(expression.args.get("replace"))
    out = _create_clone(expression)
    if replace and out is not expression:
        out.set("replace", True)
    return out


_transforms_impl.create_clone = _create_clone_keeping_replace
_transforms.create_clone = _create_clone_keeping_replace


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


_CLONE = re.compile(r"^\s*create\s+or\s+replace\s+schema\s+([\w.]+)\s+clone\s+([\w.]+)\s*;?\s*$", re.I)
_SWAP = re.compile(r"^\s*alter\s+schema\s+([\w.]+)\s+swap\s+with\s+([\w.]+)\s*;?\s*$", re.I)


def _tables(cur, schema: str) -> list[str]:
    cur.execute(
        "select table_name from information_schema.tables "
        f"where upper(table_schema) = upper('{schema}') and table_type = 'BASE TABLE'"
    )
    return [r[0] for r in cur.fetchall()]


def _copy_all(cur, src: str, dst: str) -> None:
    cur.execute(f"create schema if not exists {dst}")
    for t in _tables(cur, src):
        cur.execute(f"create or replace table {dst}.{t} as select * from {src}.{t}")


def _empty(cur, schema: str) -> None:
    for t in _tables(cur, schema):
        cur.execute(f"drop table if exists {schema}.{t}")


def emulate(conn, sql: str) -> bool:
    """Run a schema clone or swap on the session's connection; False when `sql` is neither."""
    if m := _CLONE.match(sql):
        nxt, src = m.groups()
        cur = conn.cursor()
        cur.execute(f"drop schema if exists {nxt} cascade")
        cur.execute(f"create schema {nxt}")
        _copy_all(cur, src, nxt)
        return True
    if m := _SWAP.match(sql):
        a, b = m.groups()
        cur = conn.cursor()
        scratch = "landfall_swap_scratch"
        cur.execute(f"drop schema if exists {scratch} cascade")
        _copy_all(cur, a, scratch)
        _empty(cur, a)
        _copy_all(cur, b, a)
        _empty(cur, b)
        _copy_all(cur, scratch, b)
        cur.execute(f"drop schema if exists {scratch} cascade")
        return True
    return False


async def _with_emulation(scope, receive):
    """The request's `receive`, after running an emulated statement in its place."""
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    body = b"".join(chunks)
    headers = dict((k.lower(), v) for k, v in scope.get("headers", []))
    try:
        raw = gzip.decompress(body) if headers.get(b"content-encoding") == b"gzip" else body
        req = json.loads(raw)
        auth = headers.get(b"authorization", b"").decode()
        conn = sessions.get(auth[17:-1])
        if conn is not None and emulate(conn, req.get("sqlText", "")):
            req["sqlText"] = "select 'Statement executed successfully.' as \"status\""
            raw = json.dumps(req).encode()
            body = gzip.compress(raw) if headers.get(b"content-encoding") == b"gzip" else raw
    except (ValueError, OSError):
        pass
    sent = False

    async def replay():
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


async def app(scope, receive, send):
    if scope["type"] != "http":
        return await fakesnow_app(scope, receive, send)
    if scope["path"].endswith("/query-request"):
        receive = await _with_emulation(scope, receive)
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
