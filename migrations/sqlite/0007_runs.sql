-- Runs of a workspace (plan / apply / destroy / drift / refresh), the source uploads of
-- CLI-driven runs (remote executions), the workspace's event history and its drift-check
-- schedule. Run numbers count 1, 2, ... per workspace: the next one is MAX(number) + 1,
-- taken while the workspace row is held by the write transaction, so numbering restarts when
-- a workspace is deleted and created again.
CREATE TABLE remote_executions (
  account TEXT NOT NULL,
  org TEXT NOT NULL,
  project TEXT NOT NULL,
  workspace TEXT NOT NULL,
  id TEXT NOT NULL,
  custom_arguments TEXT NOT NULL DEFAULT '',
  pipeline_execution_id TEXT NOT NULL DEFAULT '',
  pipeline_execution_url TEXT NOT NULL DEFAULT '',
  sha256 TEXT NOT NULL DEFAULT '',
  size INTEGER NOT NULL DEFAULT 0,
  executed INTEGER NOT NULL DEFAULT 0,
  run_id TEXT NOT NULL DEFAULT '',
  created INTEGER NOT NULL,
  updated INTEGER NOT NULL,
  PRIMARY KEY (account, org, project, workspace, id)
) WITHOUT ROWID;

CREATE TABLE runs (
  account TEXT NOT NULL,
  org TEXT NOT NULL,
  project TEXT NOT NULL,
  workspace TEXT NOT NULL,
  id TEXT NOT NULL,
  number INTEGER NOT NULL,
  kind TEXT NOT NULL,
  status TEXT NOT NULL,
  remote_execution_id TEXT NOT NULL DEFAULT '',
  auto_apply INTEGER NOT NULL DEFAULT 0,
  pipeline_execution_id TEXT NOT NULL DEFAULT '',
  message TEXT NOT NULL DEFAULT '',
  created_by TEXT NOT NULL DEFAULT '',
  approved_by TEXT NOT NULL DEFAULT '',
  summary TEXT NOT NULL DEFAULT '{}',
  log_size INTEGER NOT NULL DEFAULT 0,
  created INTEGER NOT NULL,
  updated INTEGER NOT NULL,
  started INTEGER NOT NULL DEFAULT 0,
  finished INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (account, org, project, workspace, id)
) WITHOUT ROWID;
-- Listing newest first, and the next number.
CREATE UNIQUE INDEX runs_by_number ON runs(account, org, project, workspace, number);
-- The runner's queue across accounts (RunsInStatus), oldest first.
CREATE INDEX runs_by_status ON runs(status, created);

CREATE TABLE workspace_events (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  account TEXT NOT NULL,
  org TEXT NOT NULL,
  project TEXT NOT NULL,
  workspace TEXT NOT NULL,
  event_type TEXT NOT NULL,
  pipeline_execution_id TEXT NOT NULL DEFAULT '',
  pipeline_stage_id TEXT NOT NULL DEFAULT '',
  run_id TEXT NOT NULL DEFAULT '',
  data TEXT NOT NULL DEFAULT '{}',
  metadata TEXT NOT NULL DEFAULT '{}',
  created INTEGER NOT NULL
);
CREATE INDEX workspace_events_by_workspace ON workspace_events(account, org, project, workspace, id);
CREATE INDEX workspace_events_by_run ON workspace_events(account, org, project, workspace, run_id, id)
  WHERE run_id != '';

CREATE TABLE drift_configs (
  account TEXT NOT NULL,
  org TEXT NOT NULL,
  project TEXT NOT NULL,
  workspace TEXT NOT NULL,
  enabled INTEGER NOT NULL DEFAULT 1,
  provisioner TEXT NOT NULL DEFAULT '',
  pipeline_id TEXT NOT NULL DEFAULT '',
  run_every INTEGER NOT NULL DEFAULT 0,
  run_every_unit TEXT NOT NULL DEFAULT '',
  trigger_id TEXT NOT NULL DEFAULT '',
  next_run INTEGER NOT NULL,
  created INTEGER NOT NULL,
  updated INTEGER NOT NULL,
  PRIMARY KEY (account, org, project, workspace)
) WITHOUT ROWID;
CREATE INDEX drift_configs_due ON drift_configs(enabled, next_run);
