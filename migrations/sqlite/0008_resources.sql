-- What clients wrote about a workspace's resources (PATCH / DELETE .../resources): the
-- listings derive resources from the newest state and apply these rows on top (see
-- StateService::Resources). One row per resource: provider, type, name, module and path_id
-- (the instance address). upserted: attributes / sensitive_attributes replace the state's;
-- drifted: drift_status / drift_attributes replace the state's; deleted: a tombstone that hides
-- the resource until it is upserted again. session_id: the session of the last PATCH that
-- named it (delete-stale keeps that session's rows). Rows go with their workspace.
CREATE TABLE workspace_resources (
  account TEXT NOT NULL,
  org TEXT NOT NULL,
  project TEXT NOT NULL,
  workspace TEXT NOT NULL,
  provider TEXT NOT NULL,
  resource_type TEXT NOT NULL,
  name TEXT NOT NULL,
  module TEXT NOT NULL,
  path_id TEXT NOT NULL,
  mode TEXT NOT NULL DEFAULT 'resource',
  upserted INTEGER NOT NULL DEFAULT 0,
  attributes TEXT NOT NULL DEFAULT '{}',
  sensitive_attributes TEXT NOT NULL DEFAULT '[]',
  drifted INTEGER NOT NULL DEFAULT 0,
  drift_status TEXT NOT NULL DEFAULT '',
  drift_attributes TEXT NOT NULL DEFAULT '{}',
  deleted INTEGER NOT NULL DEFAULT 0,
  session_id TEXT NOT NULL DEFAULT '',
  updated INTEGER NOT NULL,
  PRIMARY KEY (account, org, project, workspace, provider, resource_type, name, module, path_id),
  FOREIGN KEY (account, org, project, workspace)
    REFERENCES workspaces(account, org, project, identifier) ON DELETE CASCADE
) WITHOUT ROWID;
