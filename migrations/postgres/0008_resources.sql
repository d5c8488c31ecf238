-- What clients wrote about a workspace's resources (PATCH / DELETE .../resources): the
-- listings derive resources from the newest state and apply these rows on top (see
-- StateService::Resources). One row per resource: provider, type, name, module and path_id
-- (the instance address). upserted: attributes / sensitive_attributes replace the state's;
-- drifted: drift_status / drift_attributes replace the state's; deleted: a tombstone that hides
-- the resource until it is upserted again. session_id: the session of the last PATCH that
-- named it (delete-stale keeps that session's rows). Rows go with their workspace.
CREATE TABLE workspace_resources (
  account TEXT COLLATE "C" NOT NULL,
  org TEXT COLLATE "C" NOT NULL,
  project TEXT COLLATE "C" NOT NULL,
  workspace TEXT COLLATE "C" NOT NULL,
  provider TEXT COLLATE "C" NOT NULL,
  resource_type TEXT COLLATE "C" NOT NULL,
  name TEXT COLLATE "C" NOT NULL,
  module TEXT COLLATE "C" NOT NULL,
  path_id TEXT COLLATE "C" NOT NULL,
  mode TEXT NOT NULL DEFAULT 'resource',
  upserted BIGINT NOT NULL DEFAULT 0,
  attributes TEXT NOT NULL DEFAULT '{}',
  sensitive_attributes TEXT NOT NULL DEFAULT '[]',
  drifted BIGINT NOT NULL DEFAULT 0,
  drift_status TEXT NOT NULL DEFAULT '',
  drift_attributes TEXT NOT NULL DEFAULT '{}',
  deleted BIGINT NOT NULL DEFAULT 0,
  session_id TEXT NOT NULL DEFAULT '',
  updated BIGINT NOT NULL,
  PRIMARY KEY (account, org, project, workspace, provider, resource_type, name, module, path_id),
  FOREIGN KEY (account, org, project, workspace)
    REFERENCES workspaces(account, org, project, identifier) ON DELETE CASCADE
);
