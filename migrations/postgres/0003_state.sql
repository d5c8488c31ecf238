-- State versions and other workspace data (bytes in the blob store, by SHA-256), and the
-- record of forced unlocks. seq orders a workspace's data by arrival.
CREATE TABLE workspace_data (
  account TEXT COLLATE "C" NOT NULL,
  org TEXT COLLATE "C" NOT NULL,
  project TEXT COLLATE "C" NOT NULL,
  workspace TEXT COLLATE "C" NOT NULL,
  id TEXT NOT NULL,
  seq BIGINT NOT NULL,
  data_type TEXT NOT NULL,
  sha256 TEXT NOT NULL,
  size BIGINT NOT NULL,
  serial BIGINT,
  lineage TEXT NOT NULL DEFAULT '',
  pipeline_id TEXT NOT NULL DEFAULT '',
  stage_id TEXT NOT NULL DEFAULT '',
  pipeline_execution_id TEXT NOT NULL DEFAULT '',
  pipeline_stage_id TEXT NOT NULL DEFAULT '',
  provisioner_type TEXT NOT NULL DEFAULT 'tf',
  stack_path TEXT NOT NULL DEFAULT '',
  rollback_source_id TEXT NOT NULL DEFAULT '',
  created_by TEXT NOT NULL DEFAULT '',
  created BIGINT NOT NULL,
  PRIMARY KEY (account, org, project, workspace, id)
);
CREATE UNIQUE INDEX workspace_data_by_seq ON workspace_data(account, org, project, workspace, seq);
CREATE INDEX workspace_data_by_type ON workspace_data(account, org, project, workspace, data_type, seq);

CREATE TABLE lock_events (
  account TEXT COLLATE "C" NOT NULL,
  org TEXT COLLATE "C" NOT NULL,
  project TEXT COLLATE "C" NOT NULL,
  workspace TEXT COLLATE "C" NOT NULL,
  event TEXT NOT NULL,
  lock_id TEXT NOT NULL,
  info TEXT NOT NULL,
  forced_by TEXT NOT NULL,
  created BIGINT NOT NULL
);
CREATE INDEX lock_events_by_workspace ON lock_events(account, org, project, workspace, created);
