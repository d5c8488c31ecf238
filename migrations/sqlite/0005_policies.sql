-- Policy management (/pm/api/v1): Rego policies and policy sets at account, org and project
-- level ('' marks the levels above), the links from sets to policies, and the evaluation
-- history with a counter per level so unfiltered list totals cost the same at any size.
CREATE TABLE policies (
  account TEXT NOT NULL,
  org TEXT NOT NULL DEFAULT '',
  project TEXT NOT NULL DEFAULT '',
  identifier TEXT NOT NULL,
  name TEXT NOT NULL,
  rego TEXT NOT NULL,
  package TEXT NOT NULL DEFAULT '',
  created INTEGER NOT NULL,
  updated INTEGER NOT NULL,
  version INTEGER NOT NULL DEFAULT 1,
  PRIMARY KEY (account, org, project, identifier)
) WITHOUT ROWID;
CREATE INDEX policies_by_name ON policies(account, org, project, name, identifier);
CREATE INDEX policies_by_updated ON policies(account, org, project, updated, identifier);

CREATE TABLE policy_sets (
  account TEXT NOT NULL,
  org TEXT NOT NULL DEFAULT '',
  project TEXT NOT NULL DEFAULT '',
  identifier TEXT NOT NULL,
  name TEXT NOT NULL,
  description TEXT NOT NULL DEFAULT '',
  type TEXT NOT NULL,
  action TEXT NOT NULL,
  enabled INTEGER NOT NULL DEFAULT 0,
  entity_selector TEXT NOT NULL DEFAULT 'all_entities_in_scope',
  extra TEXT NOT NULL DEFAULT '{}',
  created INTEGER NOT NULL,
  updated INTEGER NOT NULL,
  version INTEGER NOT NULL DEFAULT 1,
  PRIMARY KEY (account, org, project, identifier)
) WITHOUT ROWID;
CREATE INDEX policy_sets_by_name ON policy_sets(account, org, project, name, identifier);
CREATE INDEX policy_sets_by_updated ON policy_sets(account, org, project, updated, identifier);
CREATE INDEX policy_sets_by_trigger ON policy_sets(account, type, action, org, project, identifier);

CREATE TABLE policy_set_policies (
  account TEXT NOT NULL,
  org TEXT NOT NULL,
  project TEXT NOT NULL,
  policy_set TEXT NOT NULL,
  position INTEGER NOT NULL,
  policy_org TEXT NOT NULL,
  policy_project TEXT NOT NULL,
  policy TEXT NOT NULL,
  severity TEXT NOT NULL,
  PRIMARY KEY (account, org, project, policy_set, position)
) WITHOUT ROWID;
CREATE INDEX policy_set_policies_by_policy
  ON policy_set_policies(account, policy_org, policy_project, policy, org, project, policy_set);

CREATE TABLE policy_evaluations (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  account TEXT NOT NULL,
  org TEXT NOT NULL DEFAULT '',
  project TEXT NOT NULL DEFAULT '',
  entity TEXT NOT NULL DEFAULT '',
  entity_metadata TEXT NOT NULL DEFAULT '',
  type TEXT NOT NULL,
  action TEXT NOT NULL,
  status TEXT NOT NULL,
  execution_id TEXT NOT NULL DEFAULT '',
  input TEXT NOT NULL DEFAULT 'null',
  details TEXT NOT NULL DEFAULT '[]',
  duration_us INTEGER NOT NULL DEFAULT 0,
  created INTEGER NOT NULL
);
CREATE INDEX policy_evaluations_by_scope ON policy_evaluations(account, org, project, id);
CREATE INDEX policy_evaluations_by_entity ON policy_evaluations(account, entity, id);
CREATE INDEX policy_evaluations_by_execution ON policy_evaluations(account, execution_id, id)
  WHERE execution_id != '';

CREATE TABLE policy_evaluation_counts (
  account TEXT NOT NULL,
  org TEXT NOT NULL,
  project TEXT NOT NULL,
  count INTEGER NOT NULL,
  PRIMARY KEY (account, org, project)
) WITHOUT ROWID;
