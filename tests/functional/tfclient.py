"""A Python twin of the Terraform / OpenTofu `http` state backend client.

The real binaries are not available to the functional suite, so this module reproduces, request
for request, what ``internal/backend/remote-state/http/client.go`` (Terraform and OpenTofu) sends
and how it interprets the answers:

* ``lock(info)``   -- ``LockMethod`` (default ``LOCK``) on the lock address with the LockInfo JSON
  (``json.Marshal`` of ``statemgr.LockInfo``: keys ID, Operation, Info, Who, Version, Created,
  Path in that order, compact, HTML-escaped).  200 = locked; 401 / 403 = auth errors; 409 / 423 =
  already locked: the body is decoded into a LockInfo the way Go's ``encoding/json`` does
  (case-insensitive keys, the last matching key wins, type errors fail the whole decode) and the
  error names the holder's ID; anything else is "Unexpected HTTP response code".
* ``get()``        -- ``GET`` address: 200 = state bytes (empty body = no state), 204 / 404 = no
  state, 401 / 403 / 500 / other = errors.  A ``Content-MD5`` answer header must be valid base64.
* ``put(data)``    -- ``POST`` (``UpdateMethod``) on the address, ``?ID=<lock id>`` added with Go's
  ``url.Values.Encode`` (keys sorted) when this client holds a lock; 200 / 201 / 204 = stored.
* ``unlock(id)``   -- ``UnlockMethod`` (default ``UNLOCK``) with the LockInfo JSON of the lock
  this client took; 200 = unlocked.
* ``force_unlock(id)`` -- what ``terraform force-unlock ID`` / ``tofu force-unlock ID`` sends from a
  fresh process: the unlock request with an EMPTY body (OpenTofu sends its stored
  ``jsonLockInfo``, which is empty in a process that never locked).

Every request with a body carries ``Content-Type: application/json``, ``Content-Length`` and a
base64 ``Content-MD5``.  Auth is HTTP basic auth (only when a username is configured, exactly as
the Go client) -- the CLI cannot send other headers; ``headers=`` adds some for tests that want
``x-api-key`` instead.  Like go-retryablehttp's default policy, connection errors, 429 and 5xx
(but 501) are retried ``retry_max`` times by resending the same bytes; the wait between attempts
is ``retry_wait`` (0 by default: the suite does not sleep).  When the retries are exhausted the
call fails with "giving up after N attempt(s)".

Every HTTP exchange is kept in ``client.exchanges`` (``requests.Response`` objects, whose
``.request`` holds what was sent) and ``client.last``.
"""
from __future__ import annotations

import base64
import datetime
import hashlib
import json
import re
import time
import urllib.parse
import uuid

import requests

TERRAFORM_VERSION = "1.9.8"
LOCK_FIELDS = ("ID", "Operation", "Info", "Who", "Version", "Created", "Path")


# ---------------------------------------------------------------------------------------
# Go encoding/json, just enough of it


class GoJSONError(ValueError):
    """json.Unmarshal returned an error."""


def go_marshal(value) -> bytes:
    """json.Marshal: compact, UTF-8, with <, >, &, U+2028 and U+2029 escaped."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    for ch, esc in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                    ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(ch, esc)
    return text.encode("utf-8")


def _fold_rune(ch: str) -> str:
    """encoding/json foldRune: the smallest rune of ch's simple case-folding orbit."""
    orbit, todo = {ch}, [ch]
    while todo:
        c = todo.pop()
        for other in (c.upper(), c.lower()):
            if len(other) == 1 and other not in orbit:
                orbit.add(other)
                todo.append(other)
    return min(orbit)


def go_fold_name(name: str) -> str:
    return "".join(_fold_rune(c) for c in name)


_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$")


def _reject_constant(name):
    raise GoJSONError(f"invalid character in JSON: {name}")


def go_unmarshal_struct(body: bytes, fields, time_fields=()) -> dict:
    """json.Unmarshal(body, &struct{fields... string; time_fields... time.Time}).

    Returns {field: value} of the fields that were set.  Keys match a field exactly or, failing
    that, case-insensitively (Go's folding); every matching key is applied in document order, so
    the LAST matching key wins.  null leaves a field alone.  A value of the wrong JSON type, a
    time that is not an RFC 3339 string, a document that is not an object (or null), or invalid
    JSON makes the whole call fail, as json.Unmarshal does.
    """
    text = body.decode("utf-8", errors="replace")
    try:
        doc = json.loads(text, object_pairs_hook=lambda pairs: ("__object__", pairs),
                         parse_constant=_reject_constant)
    except (ValueError, RecursionError) as e:
        raise GoJSONError(f"invalid JSON: {e}") from None
    if doc is None:
        return {}
    if not (isinstance(doc, tuple) and doc and doc[0] == "__object__"):
        raise GoJSONError(f"json: cannot unmarshal {type(doc).__name__} into Go value of type struct")
    by_fold = {}
    for f in fields:
        by_fold.setdefault(go_fold_name(f), f)
    out = {}
    type_error = None
    for key, value in doc[1]:
        field = key if key in fields else by_fold.get(go_fold_name(key))
        if field is None or value is None:
            continue
        if field in time_fields:
            if not isinstance(value, str) or not _RFC3339.match(value):
                raise GoJSONError(f"parsing time {value!r} as RFC 3339 for field {field}")
            out[field] = value
        elif isinstance(value, str):
            out[field] = value
        elif type_error is None:
            type_error = GoJSONError(f"json: cannot unmarshal {type(value).__name__} into Go struct "
                                     f"field .{field} of type string")
    if type_error is not None:
        raise type_error
    return out


# ---------------------------------------------------------------------------------------
# statemgr.LockInfo


def go_time_now() -> str:
    """time.Now().UTC() as encoding/json writes it (RFC 3339 with trailing zeros trimmed)."""
    now = datetime.datetime.now(datetime.timezone.utc)
    frac = f"{now.microsecond:06d}".rstrip("0")
    return now.strftime("%Y-%m-%dT%H:%M:%S") + (f".{frac}" if frac else "") + "Z"


class LockInfo:
    """statemgr.LockInfo."""

    def __init__(self, ID="", Operation="", Info="", Who="", Version="", Created="0001-01-01T00:00:00Z",
                 Path=""):
        self.ID, self.Operation, self.Info, self.Who = ID, Operation, Info, Who
        self.Version, self.Created, self.Path = Version, Created, Path

    @classmethod
    def new(cls, operation="OperationTypeApply", who=None, info="", version=TERRAFORM_VERSION) -> "LockInfo":
        """statemgr.NewLockInfo() as the CLI fills it in."""
        return cls(ID=str(uuid.uuid4()), Operation=operation, Info=info,
                   Who=who or f"runner@{uuid.uuid4().hex[:8]}", Version=version, Created=go_time_now(),
                   Path="")

    def as_dict(self) -> dict:
        return {f: getattr(self, f) for f in LOCK_FIELDS}

    def marshal(self) -> bytes:
        return go_marshal(self.as_dict())

    @classmethod
    def unmarshal(cls, body: bytes) -> "LockInfo":
        """json.Unmarshal(body, &statemgr.LockInfo{}); raises GoJSONError like Go would fail."""
        got = go_unmarshal_struct(body, LOCK_FIELDS, time_fields=("Created",))
        info = cls()
        for k, v in got.items():
            setattr(info, k, v)
        return info

    def __repr__(self):
        return f"LockInfo({self.as_dict()!r})"


# ---------------------------------------------------------------------------------------
# errors


class BackendError(Exception):
    """A failed backend call; .response is the last HTTP response (None on transport errors)."""

    def __init__(self, message, response=None):
        super().__init__(message)
        self.response = response

    @property
    def status(self):
        return None if self.response is None else self.response.status_code


class LockError(BackendError):
    """statemgr.LockError: the state is locked by someone else.

    .info is the lock we asked for; .existing the holder's LockInfo decoded from the answer (None
    when the body could not be decoded: Terraform then says "failed to unmarshal body").
    """

    def __init__(self, message, info, existing, response):
        super().__init__(message, response)
        self.info = info
        self.existing = existing


# ---------------------------------------------------------------------------------------
# the client


def _set_query(url: str, key: str, value: str) -> str:
    """Go: q := u.Query(); q.Set(key, value); u.RawQuery = q.Encode()  (keys sorted)."""
    parts = urllib.parse.urlsplit(url)
    values = {}
    for k, v in urllib.parse.parse_qsl(parts.query, keep_blank_values=True):
        values.setdefault(k, []).append(v)
    values[key] = [value]
    query = "&".join(f"{urllib.parse.quote_plus(k)}={urllib.parse.quote_plus(v)}"
                     for k in sorted(values) for v in values[k])
    return urllib.parse.urlunsplit(parts._replace(query=query))


class HTTPBackend:
    """One configured `backend "http"` block (one CLI process holds one of these)."""

    def __init__(self, address, *, lock_address=None, unlock_address=None, lock_method="LOCK",
                 unlock_method="UNLOCK", update_method="POST", username="", password="",
                 retry_max=2, retry_wait=0.0, headers=None, timeout=60.0):
        self.address = address
        self.lock_address = lock_address
        self.unlock_address = unlock_address
        self.lock_method = lock_method
        self.unlock_method = unlock_method
        self.update_method = update_method
        self.username = username
        self.password = password
        self.retry_max = retry_max
        self.retry_wait = retry_wait
        self.extra_headers = dict(headers or {})
        self.timeout = timeout
        self.session = requests.Session()
        self.lock_id = ""
        self.json_lock_info = b""
        self.exchanges: list[requests.Response] = []
        self.last_md5 = None

    @property
    def last(self) -> requests.Response | None:
        return self.exchanges[-1] if self.exchanges else None

    # transport ------------------------------------------------------------------------
    def request(self, method: str, url: str, data: bytes | None, what: str) -> requests.Response:
        """httpRequest + go-retryablehttp's Do with the default retry policy."""
        headers = {"User-Agent": f"Terraform/{TERRAFORM_VERSION}"}
        headers.update(self.extra_headers)
        if data is not None:
            headers["Content-Type"] = "application/json"
            headers["Content-MD5"] = base64.b64encode(hashlib.md5(data).digest()).decode()
            headers["Content-Length"] = str(len(data))
        auth = (self.username, self.password) if self.username else None
        attempts = 0
        while True:
            attempts += 1
            try:
                resp = self.session.request(method, url, data=data if data is not None else None,
                                            headers=headers, auth=auth, timeout=self.timeout,
                                            allow_redirects=True)
                self.exchanges.append(resp)
                retry = resp.status_code == 429 or (resp.status_code >= 500 and resp.status_code != 501) \
                    or resp.status_code == 0
                err = None
            except requests.ConnectionError as e:
                resp, retry, err = None, True, e
            if not retry:
                return resp
            if attempts > self.retry_max:
                raise BackendError(f"Failed to {what}: {method} {url} giving up after {attempts} "
                                   f"attempt(s)" + (f": {err}" if err else ""), resp)
            if self.retry_wait:
                time.sleep(self.retry_wait)

    # operations -----------------------------------------------------------------------
    def lock(self, info: LockInfo) -> str:
        if not self.lock_address:
            return ""
        self.lock_id = ""
        body = info.marshal()
        resp = self.request(self.lock_method, self.lock_address, body, "lock")
        code = resp.status_code
        if code == 200:
            self.lock_id = info.ID
            self.json_lock_info = body
            return info.ID
        if code == 401:
            raise BackendError("HTTP remote state endpoint requires auth", resp)
        if code == 403:
            raise BackendError("HTTP remote state endpoint invalid auth", resp)
        if code in (409, 423):
            try:
                existing = LockInfo.unmarshal(resp.content)
            except GoJSONError as e:
                raise LockError(f"HTTP remote state already locked, failed to unmarshal body ({e})",
                                info, None, resp) from None
            raise LockError(f"HTTP remote state already locked: ID={existing.ID}", info, existing, resp)
        raise BackendError(f"Unexpected HTTP response code {code}", resp)

    def _unlock_with(self, body: bytes):
        if not self.unlock_address:
            return
        resp = self.request(self.unlock_method, self.unlock_address, body, "unlock")
        if resp.status_code != 200:
            raise BackendError(f"Unexpected HTTP response code {resp.status_code}", resp)
        self.lock_id = ""
        self.json_lock_info = b""

    def unlock(self, lock_id: str):
        """Unlock the lock this client took (its LockInfo JSON, ID = lock_id)."""
        body = self.json_lock_info
        if body and lock_id != self.lock_id:
            info = LockInfo.unmarshal(body)
            info.ID = lock_id
            body = info.marshal()
        self._unlock_with(body)

    def force_unlock(self, lock_id: str):
        """`terraform force-unlock LOCK_ID` from a new process: the unlock request, empty body."""
        fresh_body = b""
        self._unlock_with(fresh_body)

    def get(self) -> bytes | None:
        resp = self.request("GET", self.address, None, "get state")
        code = resp.status_code
        if code in (204, 404):
            return None
        if code == 401:
            raise BackendError("HTTP remote state endpoint requires auth", resp)
        if code == 403:
            raise BackendError("HTTP remote state endpoint invalid auth", resp)
        if code == 500:
            raise BackendError("HTTP remote state internal server error", resp)
        if code != 200:
            raise BackendError(f"Unexpected HTTP response code {code}", resp)
        data = resp.content
        if not data:
            return None
        raw = resp.headers.get("Content-MD5")
        if raw:
            try:
                self.last_md5 = base64.b64decode(raw, validate=True)
            except ValueError:
                raise BackendError(f"Failed to decode Content-MD5 '{raw}'", resp) from None
        else:
            self.last_md5 = hashlib.md5(data).digest()
        return data

    def put(self, data: bytes):
        url = self.address
        if self.lock_id:
            url = _set_query(url, "ID", self.lock_id)
        resp = self.request(self.update_method or "POST", url, data, "upload state")
        if resp.status_code not in (200, 201, 204):
            raise BackendError(f"HTTP error: {resp.status_code}", resp)
        return resp

    def delete(self):
        resp = self.request("DELETE", self.address, None, "delete state")
        if resp.status_code != 200:
            raise BackendError(f"HTTP error: {resp.status_code}", resp)
