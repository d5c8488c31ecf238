-- Workspaces, their tags and variable-set references, per-workspace settings, state locks,
-- and variable sets at account, org and project level ('' marks the levels above).
ALTER TABLE projects ADD COLUMN workspace_count BIGINT NOT NULL DEFAULT 0;

CREATE TABLE workspaces (
  account TEXT COLLATE "C" NOT NULL,
  org TEXT COLLATE "C" NOT NULL,
  project TEXT COLLATE "C" NOT NULL,
  identifier TEXT COLLATE "C" NOT NULL,
  name TEXT COLLATE "C" NOT NULL,
  status TEXT COLLATE "C" NOT NULL,
  provisioner TEXT NOT NULL,
  template_id TEXT NOT NULL DEFAULT '',
  template_version TEXT NOT NULL DEFAULT '',
  tags TEXT NOT NULL DEFAULT '{}',
  variable_sets TEXT NOT NULL DEFAULT '[]',
  config TEXT NOT NULL,
  server TEXT NOT NULL DEFAULT '{}',
  created BIGINT NOT NULL,
  updated BIGINT NOT NULL,
  version BIGINT NOT NULL DEFAULT 1,
  PRIMARY KEY (account, org, project, identifier),
  FOREIGN KEY (account, org, project) REFERENCES projects(account, org, identifier)
);
CREATE INDEX workspaces_by_name ON workspaces(account, org, project, name, identifier);
CREATE INDEX workspaces_by_updated ON workspaces(account, org, project, updated, identifier);
CREATE INDEX workspaces_by_status ON workspaces(account, org, project, status, name, identifier);
CREATE INDEX workspaces_by_template ON workspaces(account, template_id, template_version)
  WHERE template_id != '';

-- Workspaces per status, kept in step with the rows so status-filtered totals and metrics
-- cost the same at any table size.
CREATE TABLE workspace_status_counts (
  account TEXT COLLATE "C" NOT NULL,
  org TEXT COLLATE "C" NOT NULL,
  project TEXT COLLATE "C" NOT NULL,
  status TEXT COLLATE "C" NOT NULL,
  count BIGINT NOT NULL,
  PRIMARY KEY (account, org, project, status)
);

CREATE TABLE workspace_tags (
  account TEXT COLLATE "C" NOT NULL,
  org TEXT COLLATE "C" NOT NULL,
  project TEXT COLLATE "C" NOT NULL,
  workspace TEXT COLLATE "C" NOT NULL,
  key TEXT COLLATE "C" NOT NULL,
  value TEXT NOT NULL,
  PRIMARY KEY (account, org, project, workspace, key)
);
CREATE INDEX workspace_tags_by_tag ON workspace_tags(account, org, project, key, value, workspace);

CREATE TABLE variable_sets (
  account TEXT COLLATE "C" NOT NULL,
  org TEXT COLLATE "C" NOT NULL DEFAULT '',
  project TEXT COLLATE "C" NOT NULL DEFAULT '',
  identifier TEXT COLLATE "C" NOT NULL,
  name TEXT COLLATE "C" NOT NULL,
  document TEXT NOT NULL,
  env_vars_count BIGINT NOT NULL DEFAULT 0,
  tf_vars_count BIGINT NOT NULL DEFAULT 0,
  var_files_count BIGINT NOT NULL DEFAULT 0,
  created BIGINT NOT NULL,
  updated BIGINT NOT NULL,
  PRIMARY KEY (account, org, project, identifier)
);
CREATE INDEX variable_sets_by_name ON variable_sets(account, org, project, name, identifier);

CREATE TABLE workspace_variable_sets (
  account TEXT COLLATE "C" NOT NULL,
  org TEXT COLLATE "C" NOT NULL,
  project TEXT COLLATE "C" NOT NULL,
  workspace TEXT COLLATE "C" NOT NULL,
  position BIGINT NOT NULL,
  set_org TEXT NOT NULL,
  set_project TEXT NOT NULL,
  set_identifier TEXT NOT NULL,
  PRIMARY KEY (account, org, project, workspace, position)
);
CREATE INDEX workspace_variable_sets_by_set
  ON workspace_variable_sets(account, set_org, set_project, set_identifier, org, project, workspace);

CREATE TABLE workspace_settings (
  account TEXT COLLATE "C" NOT NULL,
  org TEXT COLLATE "C" NOT NULL,
  project TEXT COLLATE "C" NOT NULL,
  workspace TEXT COLLATE "C" NOT NULL,
  name TEXT COLLATE "C" NOT NULL,
  value TEXT NOT NULL,
  PRIMARY KEY (account, org, project, workspace, name)
);

-- One row while a workspace's state is locked (CLI lock or manual lock).
CREATE TABLE workspace_locks (
  account TEXT COLLATE "C" NOT NULL,
  org TEXT COLLATE "C" NOT NULL,
  project TEXT COLLATE "C" NOT NULL,
  workspace TEXT COLLATE "C" NOT NULL,
  lock_id TEXT NOT NULL,
  info TEXT NOT NULL DEFAULT '{}',
  manual BIGINT NOT NULL DEFAULT 0,
  reason TEXT NOT NULL DEFAULT '',
  locked_by TEXT NOT NULL DEFAULT '',
  created BIGINT NOT NULL,
  PRIMARY KEY (account, org, project, workspace)
);
