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

Three fakesnow gaps are filled:
  - every COPY of a file with 10 or more columns fails: fakesnow selects `column0, column1, …`
    from DuckDB's `read_csv(header = false)`, but DuckDB zero-pads those names when there are
    10 or more (`column00` … `column14`);
  - `create or replace table A clone B` loses its `or replace` (fakesnow rewrites a table
    clone to `create table A as select * from B`), so replacing an existing table fails;
  - a CSV file format's ESCAPE, ERROR_ON_COLUMN_COUNT_MISMATCH and ENCODING are refused
    (NotImplementedError), and a quote other than `"` doubled inside a quoted field is not read
    as one quote (DuckDB's escape stays `"`), and a `'` quote reaches DuckDB doubled twice. Here ESCAPE becomes DuckDB's `escape` (NONE: the
    quote itself, as Snowflake reads a doubled quote), ERROR_ON_COLUMN_COUNT_MISMATCH = TRUE and
    ENCODING = 'UTF8' are what DuckDB's read_csv does anyway, and any other value of those two
    is still refused; NULL_IF = () (nothing is null), which DuckDB refuses as an empty
    `nullstr`, becomes a null string no field holds.

  - a COPY of a file DuckDB cannot parse (an unterminated quote, a ragged row) escapes
    fakesnow as an unhandled exception, an HTTP 500 without a result; Snowflake answers it as
    a data-load error (a 100xxx code, ON_ERROR = ABORT_STATEMENT). Here DuckDB's
    InvalidInputException from a COPY becomes error 100065 with DuckDB's first line and the
    file: the code's family is Snowflake's, the words are DuckDB's (Snowflake's own message
    names the line and character).

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

One Snowflake Scripting shape is emulated, because the adapter sends a transaction, a publish
and a run of DDL as one request each (fakesnow has no Snowflake Scripting):

  execute immediate 'begin S1; …; Sn; exception when other then rollback; raise; end;'
      S1 … Sn (which may open and commit a transaction) run in order on the session's
      connection, each through fakesnow or the emulations above; the first that fails rolls an
      open transaction back and its error is the answer, as Snowflake re-raises it

Asynchronous submission (`asyncExec: true`, what firn's `submit_async` sends) is emulated,
because fakesnow runs every statement at once and has no result endpoint:

  query  asyncExec                 the statement runs (fakesnow), its answer is kept by query id
  result /queries/{id}/result      the kept answer (Snowflake: the result of an async query)
  status /monitoring/queries/{id}  SUCCESS / FAILED_WITH_ERROR / RUNNING / ABORTED for kept ids
  cancel select system$cancel_query('{id}')   marks a held statement ABORTED
  history select query_id from table(information_schema.query_history_by_user(…))
          where endswith(query_tag, '…') and execution_status in (…)
                                   the held statements still running whose QUERY_TAG ends so

and, for the tests, a statement can be held "running" (real Snowflake: a long statement):

  POST /landfall/holds {"contains": "...", "polls": N, "error": {"code", "message"} | null}
      the next submitted statement containing the text answers RUNNING to N status polls; then
      it runs (or fails with the given error, not running at all) and answers its outcome
  GET  /landfall/queries           every async statement: id, sql, status polls, status, cancelled,
                                   and when it was submitted and finished (how many async
                                   statements had been submitted by then)

fakesnow refuses a second statement while a session's connection is busy; real Snowflake runs
a session's statements side by side. Here a session's statements take turns.
"""

from __future__ import annotations

import asyncio
import dataclasses
import gzip
import json
import re
import sys
import uuid

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

_handle_csv = copy_into.handle_csv
# DuckDB needs at least one null string; NULL_IF = () (nothing is null) gets one no field holds.
_NO_NULL = "\x01landfall: no null string\x01"


@dataclasses.dataclass
class _ReadCSVEscaped(copy_into.ReadCSV):
    escape: str | None = None

    def read_expression(self, url):
        read = super().read_expression(url)
        # fakesnow doubles a quote character twice over (`'` became ``): set it as is.
        for eq in read.expressions:
            if isinstance(eq, exp.EQ) and eq.this.name == "quote" and self.quote:
                eq.set("expression", exp.Literal.string(self.quote))
        if self.escape:
            read.append("expressions", self.make_eq("escape", self.escape))
        return read


def _handle_csv_escaped(options):
    options = dict(options)
    escape = options.pop("ESCAPE", None)
    for name, ok in (("ERROR_ON_COLUMN_COUNT_MISMATCH", {"TRUE"}), ("ENCODING", {"UTF8", "UTF-8"})):
        if name in options and str(options.pop(name)).upper() not in ok:
            raise NotImplementedError(f"FILE_FORMAT option {name}")
    read = _handle_csv(options)
    if read.null_if == []:
        read.null_if = [_NO_NULL]
    quote = read.quote or None
    escape = None if escape is None or str(escape).upper() == "NONE" else str(escape)
    return _ReadCSVEscaped(**read.__dict__, escape=escape or quote)


copy_into.handle_csv = _handle_csv_escaped

import duckdb  # noqa: E402
import fakesnow.cursor as _cursor  # noqa: E402
import snowflake.connector.errors as _sf_errors  # noqa: E402

_copy_into = copy_into.copy_into


def _copy_into_load_errors(duck_conn, *args, **kwargs):
    try:
        return _copy_into(duck_conn, *args, **kwargs)
    except duckdb.InvalidInputException as e:
        lines = str(e).splitlines()
        file = next((m.group(1) for line in lines if (m := re.search(r'file "([^"]+)"', line))), "?")
        raise _sf_errors.ProgrammingError(
            msg=f"{lines[0] if lines else 'cannot parse the file'}\n  File '{file}'", errno=100065, sqlstate="22000"
        ) from None


copy_into.copy_into = _copy_into_load_errors
_cursor.copy_into = _copy_into_load_errors

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


_BLOCK = re.compile(r"^\s*execute\s+immediate\s+'(.*)'\s*;?\s*$", re.I | re.S)
_SCRIPT = re.compile(
    r"^\s*begin\s+(.*);\s*exception\s+when\s+other\s+then\s+rollback\s*;\s*raise\s*;\s*end\s*;?\s*$",
    re.I | re.S,
)


def _split(sql: str) -> list[str]:
    """Statements of a script, split on semicolons outside quotes."""
    out, cur, quote = [], [], None
    for ch in sql:
        if quote:
            cur.append(ch)
            if ch == quote:
                quote = None
        elif ch in ("'", '"'):
            quote = ch
            cur.append(ch)
        elif ch == ";":
            out.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
    out.append("".join(cur).strip())
    return [x for x in out if x]


def script_block(conn, sql: str):
    """Run an emulated Scripting block; None when `sql` is not one, else its error or {}."""
    m = _BLOCK.match(sql)
    if not m:
        return None
    t = _SCRIPT.match(m.group(1).replace("''", "'"))
    if not t:
        return None
    cur = conn.cursor()
    in_transaction = False
    try:
        for stmt in _split(t.group(1)):
            low = stmt.lower()
            if emulate(conn, stmt):
                continue
            cur.execute(stmt)
            if low.startswith("begin"):
                in_transaction = True
            elif low in ("commit", "rollback"):
                in_transaction = False
    except Exception as e:  # fakesnow raises the connector's ProgrammingError for SQL errors
        if in_transaction:
            cur.execute("rollback")
        errno = getattr(e, "errno", None) or 100000
        return {"code": f"{int(errno):06d}", "message": getattr(e, "msg", None) or str(e)}
    return {}


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
    """The request's `receive`, after running an emulated statement in its place, or the
    answer to send instead (an emulated transaction that failed)."""
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
        failed = script_block(conn, req.get("sqlText", "")) if conn is not None else None
        if failed:
            return None, _error(failed["code"], failed["message"])
        if conn is not None and (failed == {} or emulate(conn, req.get("sqlText", ""))):
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

    return replay, None


_holds: list[dict] = []
_queries: dict[str, dict] = {}
_CANCEL = re.compile(r"system\$cancel_query\('([^']+)'\)", re.I)
_HISTORY = re.compile(r"information_schema\.query_history_by_user.*endswith\(query_tag,\s*'([^']*)'\)", re.I | re.S)


async def _body(receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


def _receiver(body: bytes):
    sent = False

    async def receive():
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


async def _json(send, doc, status=200):
    body = json.dumps(doc).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


_session_locks: dict[bytes, asyncio.Lock] = {}


def _session_lock(scope) -> asyncio.Lock:
    """fakesnow refuses a second statement while a session's connection is busy ("connection
    is busy with another call"); real Snowflake runs a session's statements side by side.
    Here they take turns."""
    auth = dict((k.lower(), v) for k, v in scope.get("headers", [])).get(b"authorization", b"")
    return _session_locks.setdefault(auth, asyncio.Lock())


async def _run(scope, body: bytes) -> dict:
    """Send a query request through the (patched) fakesnow app; its JSON answer."""
    out: dict = {"chunks": []}

    async def capture(message):
        if message["type"] == "http.response.body":
            out["chunks"].append(message.get("body", b""))

    async with _session_lock(scope):
        await _patched(scope, _receiver(body), capture)
    return json.loads(b"".join(out["chunks"]) or b"{}")


def _error(code: str, message: str) -> dict:
    return {"data": {"errorCode": code, "age": 0}, "code": code, "message": message, "success": False}


async def _finish(q: dict) -> None:
    """Run a held statement whose polls are used up, or fail it as the hold says."""
    hold = q.pop("hold")
    if hold.get("error"):
        e = hold["error"]
        q["answer"] = _error(e.get("code", "100038"), e.get("message", "held statement failed"))
    else:
        q["answer"] = await _run(q.pop("scope"), q.pop("body"))
        if q["answer"].get("data") and q["answer"].get("success"):
            q["answer"]["data"]["queryId"] = q["id"]
    q["status"] = "SUCCESS" if q["answer"].get("success") else "FAILED_WITH_ERROR"
    q["finished"] = len(_queries)


async def _async_query(scope, body: bytes, req: dict, send) -> None:
    sql = req.get("sqlText", "")
    hold = next((h for h in _holds if h["contains"].lower() in sql.lower()), None)
    if hold is None:
        answer = await _run(scope, body)
        qid = (answer.get("data") or {}).get("queryId") or str(uuid.uuid4())
        _queries[qid] = {"id": qid, "sql": sql, "polls": 0, "cancelled": False, "answer": answer,
                         "submitted": len(_queries), "finished": len(_queries),
                         "status": "SUCCESS" if answer.get("success") else "FAILED_WITH_ERROR"}
        return await _json(send, answer)
    _holds.remove(hold)
    qid = str(uuid.uuid4())
    _queries[qid] = {"id": qid, "sql": sql, "polls": 0, "cancelled": False, "status": "RUNNING",
                     "submitted": len(_queries), "finished": None,
                     "left": int(hold.get("polls", 1)), "hold": hold, "scope": scope, "body": body,
                     "tag": (req.get("parameters") or {}).get("QUERY_TAG")}
    await _json(send, {"success": True, "code": "333334", "message": "Asynchronous execution in progress.",
                       "data": {"queryId": qid, "getResultUrl": f"/queries/{qid}/result"}})


async def _status(qid: str, send) -> None:
    q = _queries[qid]
    q["polls"] += 1
    if q["status"] == "RUNNING":
        if q["left"] > 0:
            q["left"] -= 1
        if q["left"] == 0:
            await _finish(q)
    entry = {"id": qid, "status": q["status"]}
    if q["status"] == "FAILED_WITH_ERROR":
        entry["errorCode"] = q["answer"].get("code")
        entry["errorMessage"] = q["answer"].get("message")
    await _json(send, {"success": True, "data": {"queries": [entry]}})


async def _result(qid: str, send) -> None:
    q = _queries[qid]
    if q["status"] == "RUNNING":
        return await _json(send, {"success": True, "code": "333334", "message": "Asynchronous execution in progress.",
                                  "data": {"queryId": qid, "getResultUrl": f"/queries/{qid}/result"}})
    await _json(send, q["answer"])


def _listing() -> list[dict]:
    return [{k: q[k] for k in ("id", "sql", "polls", "status", "cancelled", "submitted", "finished")} for q in _queries.values()]


async def app(scope, receive, send):
    if scope["type"] != "http":
        return await fakesnow_app(scope, receive, send)
    path = scope["path"]
    if path == "/landfall/holds" and scope["method"] == "POST":
        _holds.append(json.loads(await _body(receive)))
        return await _json(send, {"holds": len(_holds)})
    if path == "/landfall/queries":
        return await _json(send, {"queries": _listing()})
    if path.startswith("/monitoring/queries/") and path.rsplit("/", 1)[-1] in _queries:
        return await _status(path.rsplit("/", 1)[-1], send)
    if (m := re.fullmatch(r"/queries/([^/]+)/result", path)) and m.group(1) in _queries:
        return await _result(m.group(1), send)
    if path.endswith("/query-request"):
        body = await _body(receive)
        headers = dict((k.lower(), v) for k, v in scope.get("headers", []))
        try:
            raw = gzip.decompress(body) if headers.get(b"content-encoding") == b"gzip" else body
            req = json.loads(raw)
        except (ValueError, OSError):
            req = {}
        plain = {k: v for k, v in req.items() if k != "asyncExec"}
        hdrs = [(k, v) for k, v in scope.get("headers", []) if k.lower() not in (b"content-encoding", b"content-length")]
        plain_scope = {**scope, "headers": hdrs}
        if m := _CANCEL.search(req.get("sqlText", "")):
            q = _queries.get(m.group(1))
            if q is not None and q["status"] == "RUNNING":
                q["status"], q["cancelled"] = "ABORTED", True
                q.pop("hold", None)
                q["answer"] = _error("000604", "SQL execution canceled")
            plain["sqlText"] = f"select 'query [{m.group(1)}] terminated.' as \"status\""
            return await _json(send, await _run(plain_scope, json.dumps(plain).encode()))
        if m := _HISTORY.search(req.get("sqlText", "")):
            ids = [q["id"] for q in _queries.values() if q["status"] == "RUNNING" and (q.get("tag") or "").endswith(m.group(1))]
            values = ", ".join(f"('{i}')" for i in ids)
            plain["sqlText"] = (
                f"select column1 as query_id from values {values}" if ids else "select 'x' as query_id where false"
            )
            return await _json(send, await _run(plain_scope, json.dumps(plain).encode()))
        if req.get("asyncExec"):
            return await _async_query(plain_scope, json.dumps(plain).encode(), plain, send)
        async with _session_lock(scope):
            return await _patched(scope, _receiver(body), send)
    await _patched(scope, receive, send)


async def _patched(scope, receive, send):
    if scope["path"].endswith("/query-request"):
        receive, answer = await _with_emulation(scope, receive)
        if answer is not None:
            return await _json(send, answer)
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
