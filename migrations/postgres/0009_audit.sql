-- The audit trail: one row per request to a write route (see domain/audit.h and the README's
-- "Audit trail"). Append-only; never a secret (no token values, no bodies, no variable values).
-- time: unix ms; principal: token id ("run:<id>" for a run's token); outcome: success | denied |
-- failed, with the HTTP status. Lists are per account, newest first: every index leads with
-- the account, and ends with time and id for that order.
CREATE TABLE audit_events (
  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  account TEXT COLLATE "C" NOT NULL,
  time BIGINT NOT NULL,
  principal TEXT COLLATE "C" NOT NULL DEFAULT '',
  principal_name TEXT NOT NULL DEFAULT '',
  api_key TEXT COLLATE "C" NOT NULL DEFAULT '',
  action TEXT COLLATE "C" NOT NULL,
  target TEXT COLLATE "C" NOT NULL DEFAULT '',
  request_id TEXT NOT NULL DEFAULT '',
  outcome TEXT COLLATE "C" NOT NULL,
  status BIGINT NOT NULL,
  remote_address TEXT NOT NULL DEFAULT ''
);
CREATE INDEX audit_events_by_time ON audit_events(account, time, id);
CREATE INDEX audit_events_by_target ON audit_events(account, target, time, id);
CREATE INDEX audit_events_by_principal ON audit_events(account, principal, time, id);
CREATE INDEX audit_events_by_action ON audit_events(account, action, time, id);

-- Rows per account: the unfiltered list total without counting.
CREATE TABLE audit_event_counts (
  account TEXT COLLATE "C" PRIMARY KEY,
  count BIGINT NOT NULL
);
