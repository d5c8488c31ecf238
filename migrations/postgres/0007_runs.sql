-- Runs of a workspace (plan / apply / destroy / drift / refresh), the source uploads of
-- CLI-driven runs (remote executions), the workspace's event history and its drift-check
-- schedule. Run numbers count 1, 2, ... per workspace: the next one is MAX(number) + 1,
-- taken while the workspace row is locked (FOR UPDATE) by the write transaction, so
-- numbering restarts when a workspace is deleted and created again.
CREATE TABLE remote_executions (
  account TEXT COLLATE "C" NOT NULL,
  org TEXT COLLATE "C" NOT NULL,
  project TEXT COLLATE "C" NOT NULL,
  workspace TEXT COLLATE "C" NOT NULL,
  id TEXT COLLATE "C" NOT NULL,
  custom_arguments TEXT NOT NULL DEFAULT '',
  pipeline_execution_id TEXT NOT NULL DEFAULT '',
  pipeline_execution_url TEXT NOT NULL DEFAULT '',
  sha256 TEXT NOT NULL DEFAULT '',
  size BIGINT NOT NULL DEFAULT 0,
  executed BIGINT NOT NULL DEFAULT 0,
  run_id TEXT NOT NULL DEFAULT '',
  created BIGINT NOT NULL,
  updated BIGINT NOT NULL,
  PRIMARY KEY (account, org, project, workspace, id)
);

CREATE TABLE runs (
  account TEXT COLLATE "C" NOT NULL,
  org TEXT COLLATE "C" NOT NULL,
  project TEXT COLLATE "C" NOT NULL,
  workspace TEXT COLLATE "C" NOT NULL,
  id TEXT COLLATE "C" NOT NULL,
  number BIGINT NOT NULL,
  kind TEXT COLLATE "C" NOT NULL,
  status TEXT COLLATE "C" NOT NULL,
  remote_execution_id TEXT NOT NULL DEFAULT '',
  auto_apply BIGINT NOT NULL DEFAULT 0,
  pipeline_execution_id TEXT NOT NULL DEFAULT '',
  message TEXT NOT NULL DEFAULT '',
  created_by TEXT NOT NULL DEFAULT '',
  approved_by TEXT NOT NULL DEFAULT '',
  summary TEXT NOT NULL DEFAULT '{}',
  log_size BIGINT NOT NULL DEFAULT 0,
  created BIGINT NOT NULL,
  updated BIGINT NOT NULL,
  started BIGINT NOT NULL DEFAULT 0,
  finished BIGINT NOT NULL DEFAULT 0,
  PRIMARY KEY (account, org, project, workspace, id)
);
-- Listing newest first, and the next number.
CREATE UNIQUE INDEX runs_by_number ON runs(account, org, project, workspace, number);
-- The runner's queue across accounts (RunsInStatus), oldest first.
CREATE INDEX runs_by_status ON runs(status, created);

CREATE TABLE workspace_events (
  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  account TEXT COLLATE "C" NOT NULL,
  org TEXT COLLATE "C" NOT NULL,
  project TEXT COLLATE "C" NOT NULL,
  workspace TEXT COLLATE "C" NOT NULL,
  event_type TEXT COLLATE "C" NOT NULL,
  pipeline_execution_id TEXT COLLATE "C" NOT NULL DEFAULT '',
  pipeline_stage_id TEXT NOT NULL DEFAULT '',
  run_id TEXT COLLATE "C" NOT NULL DEFAULT '',
  data TEXT NOT NULL DEFAULT '{}',
  metadata TEXT NOT NULL DEFAULT '{}',
  created BIGINT NOT NULL
);
CREATE INDEX workspace_events_by_workspace ON workspace_events(account, org, project, workspace, id);
CREATE INDEX workspace_events_by_run ON workspace_events(account, org, project, workspace, run_id, id)
  WHERE run_id != '';

CREATE TABLE drift_configs (
  account TEXT COLLATE "C" NOT NULL,
  org TEXT COLLATE "C" NOT NULL,
  project TEXT COLLATE "C" NOT NULL,
  workspace TEXT COLLATE "C" NOT NULL,
  enabled BIGINT NOT NULL DEFAULT 1,
  provisioner TEXT NOT NULL DEFAULT '',
  pipeline_id TEXT NOT NULL DEFAULT '',
  run_every BIGINT NOT NULL DEFAULT 0,
  run_every_unit TEXT NOT NULL DEFAULT '',
  trigger_id TEXT NOT NULL DEFAULT '',
  next_run BIGINT NOT NULL,
  created BIGINT NOT NULL,
  updated BIGINT NOT NULL,
  PRIMARY KEY (account, org, project, workspace)
);
CREATE INDEX drift_configs_due ON drift_configs(enabled, next_run);
