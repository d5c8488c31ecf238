-- The audit trail: one row per request to a write route (see domain/audit.h and the README's
-- "Audit trail"). Append-only; never a secret (no token values, no bodies, no variable values).
-- time: unix ms; principal: token id ("run:<id>" for a run's token); outcome: success | denied |
-- failed, with the HTTP status. Lists are per account, newest first: every index leads with
-- the account, and ends with time and id for that order.
CREATE TABLE audit_events (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  account TEXT NOT NULL,
  time INTEGER NOT NULL,
  principal TEXT NOT NULL DEFAULT '',
  principal_name TEXT NOT NULL DEFAULT '',
  api_key TEXT NOT NULL DEFAULT '',
  action TEXT NOT NULL,
  target TEXT NOT NULL DEFAULT '',
  request_id TEXT NOT NULL DEFAULT '',
  outcome TEXT NOT NULL,
  status INTEGER NOT NULL,
  remote_address TEXT NOT NULL DEFAULT ''
);
CREATE INDEX audit_events_by_time ON audit_events(account, time, id);
CREATE INDEX audit_events_by_target ON audit_events(account, target, time, id);
CREATE INDEX audit_events_by_principal ON audit_events(account, principal, time, id);
CREATE INDEX audit_events_by_action ON audit_events(account, action, time, id);

-- Rows per account: the unfiltered list total without counting.
CREATE TABLE audit_event_counts (
  account TEXT PRIMARY KEY,
  count INTEGER NOT NULL
) WITHOUT ROWID;
