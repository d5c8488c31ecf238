-- Workspaces, their tags and variable-set references, per-workspace settings, state locks,
-- and variable sets at account, org and project level ('' marks the levels above).
ALTER TABLE projects ADD COLUMN workspace_count INTEGER NOT NULL DEFAULT 0;

CREATE TABLE workspaces (
  account TEXT NOT NULL,
  org TEXT NOT NULL,
  project TEXT NOT NULL,
  identifier TEXT NOT NULL,
  name TEXT NOT NULL,
  status TEXT NOT NULL,
  provisioner TEXT NOT NULL,
  template_id TEXT NOT NULL DEFAULT '',
  template_version TEXT NOT NULL DEFAULT '',
  tags TEXT NOT NULL DEFAULT '{}',
  variable_sets TEXT NOT NULL DEFAULT '[]',
  config TEXT NOT NULL,
  server TEXT NOT NULL DEFAULT '{}',
  created INTEGER NOT NULL,
  updated INTEGER NOT NULL,
  version INTEGER NOT NULL DEFAULT 1,
  PRIMARY KEY (account, org, project, identifier),
  FOREIGN KEY (account, org, project) REFERENCES projects(account, org, identifier)
) WITHOUT ROWID;
CREATE INDEX workspaces_by_name ON workspaces(account, org, project, name, identifier);
CREATE INDEX workspaces_by_updated ON workspaces(account, org, project, updated, identifier);
CREATE INDEX workspaces_by_status ON workspaces(account, org, project, status, name, identifier);
CREATE INDEX workspaces_by_template ON workspaces(account, template_id, template_version)
  WHERE template_id != '';

-- Workspaces per status, kept in step with the rows so status-filtered totals and metrics
-- cost the same at any table size.
CREATE TABLE workspace_status_counts (
  account TEXT NOT NULL,
  org TEXT NOT NULL,
  project TEXT NOT NULL,
  status TEXT NOT NULL,
  count INTEGER NOT NULL,
  PRIMARY KEY (account, org, project, status)
) WITHOUT ROWID;

CREATE TABLE workspace_tags (
  account TEXT NOT NULL,
  org TEXT NOT NULL,
  project TEXT NOT NULL,
  workspace TEXT NOT NULL,
  key TEXT NOT NULL,
  value TEXT NOT NULL,
  PRIMARY KEY (account, org, project, workspace, key)
) WITHOUT ROWID;
CREATE INDEX workspace_tags_by_tag ON workspace_tags(account, org, project, key, value, workspace);

CREATE TABLE variable_sets (
  account TEXT NOT NULL,
  org TEXT NOT NULL DEFAULT '',
  project TEXT NOT NULL DEFAULT '',
  identifier TEXT NOT NULL,
  name TEXT NOT NULL,
  document TEXT NOT NULL,
  env_vars_count INTEGER NOT NULL DEFAULT 0,
  tf_vars_count INTEGER NOT NULL DEFAULT 0,
  var_files_count INTEGER NOT NULL DEFAULT 0,
  created INTEGER NOT NULL,
  updated INTEGER NOT NULL,
  PRIMARY KEY (account, org, project, identifier)
) WITHOUT ROWID;
CREATE INDEX variable_sets_by_name ON variable_sets(account, org, project, name, identifier);

CREATE TABLE workspace_variable_sets (
  account TEXT NOT NULL,
  org TEXT NOT NULL,
  project TEXT NOT NULL,
  workspace TEXT NOT NULL,
  position INTEGER NOT NULL,
  set_org TEXT NOT NULL,
  set_project TEXT NOT NULL,
  set_identifier TEXT NOT NULL,
  PRIMARY KEY (account, org, project, workspace, position)
) WITHOUT ROWID;
CREATE INDEX workspace_variable_sets_by_set
  ON workspace_variable_sets(account, set_org, set_project, set_identifier, org, project, workspace);

CREATE TABLE workspace_settings (
  account TEXT NOT NULL,
  org TEXT NOT NULL,
  project TEXT NOT NULL,
  workspace TEXT NOT NULL,
  name TEXT NOT NULL,
  value TEXT NOT NULL,
  PRIMARY KEY (account, org, project, workspace, name)
) WITHOUT ROWID;

-- One row while a workspace's state is locked (CLI lock or manual lock).
CREATE TABLE workspace_locks (
  account TEXT NOT NULL,
  org TEXT NOT NULL,
  project TEXT NOT NULL,
  workspace TEXT NOT NULL,
  lock_id TEXT NOT NULL,
  info TEXT NOT NULL DEFAULT '{}',
  manual INTEGER NOT NULL DEFAULT 0,
  reason TEXT NOT NULL DEFAULT '',
  locked_by TEXT NOT NULL DEFAULT '',
  created INTEGER NOT NULL,
  PRIMARY KEY (account, org, project, workspace)
) WITHOUT ROWID;
