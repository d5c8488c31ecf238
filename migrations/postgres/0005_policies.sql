-- Policy management (/pm/api/v1): Rego policies and policy sets at account, org and project
-- level ('' marks the levels above), the links from sets to policies, and the evaluation
-- history with a counter per level so unfiltered list totals cost the same at any size.
CREATE TABLE policies (
  account TEXT COLLATE "C" NOT NULL,
  org TEXT COLLATE "C" NOT NULL DEFAULT '',
  project TEXT COLLATE "C" NOT NULL DEFAULT '',
  identifier TEXT COLLATE "C" NOT NULL,
  name TEXT COLLATE "C" NOT NULL,
  rego TEXT NOT NULL,
  package TEXT NOT NULL DEFAULT '',
  created BIGINT NOT NULL,
  updated BIGINT NOT NULL,
  version BIGINT NOT NULL DEFAULT 1,
  PRIMARY KEY (account, org, project, identifier)
);
CREATE INDEX policies_by_name ON policies(account, org, project, name, identifier);
CREATE INDEX policies_by_updated ON policies(account, org, project, updated, identifier);

CREATE TABLE policy_sets (
  account TEXT COLLATE "C" NOT NULL,
  org TEXT COLLATE "C" NOT NULL DEFAULT '',
  project TEXT COLLATE "C" NOT NULL DEFAULT '',
  identifier TEXT COLLATE "C" NOT NULL,
  name TEXT COLLATE "C" NOT NULL,
  description TEXT NOT NULL DEFAULT '',
  type TEXT COLLATE "C" NOT NULL,
  action TEXT COLLATE "C" NOT NULL,
  enabled BIGINT NOT NULL DEFAULT 0,
  entity_selector TEXT NOT NULL DEFAULT 'all_entities_in_scope',
  extra TEXT NOT NULL DEFAULT '{}',
  created BIGINT NOT NULL,
  updated BIGINT NOT NULL,
  version BIGINT NOT NULL DEFAULT 1,
  PRIMARY KEY (account, org, project, identifier)
);
CREATE INDEX policy_sets_by_name ON policy_sets(account, org, project, name, identifier);
CREATE INDEX policy_sets_by_updated ON policy_sets(account, org, project, updated, identifier);
CREATE INDEX policy_sets_by_trigger ON policy_sets(account, type, action, org, project, identifier);

CREATE TABLE policy_set_policies (
  account TEXT COLLATE "C" NOT NULL,
  org TEXT COLLATE "C" NOT NULL,
  project TEXT COLLATE "C" NOT NULL,
  policy_set TEXT COLLATE "C" NOT NULL,
  position BIGINT NOT NULL,
  policy_org TEXT COLLATE "C" NOT NULL,
  policy_project TEXT COLLATE "C" NOT NULL,
  policy TEXT COLLATE "C" NOT NULL,
  severity TEXT NOT NULL,
  PRIMARY KEY (account, org, project, policy_set, position)
);
CREATE INDEX policy_set_policies_by_policy
  ON policy_set_policies(account, policy_org, policy_project, policy, org, project, policy_set);

CREATE TABLE policy_evaluations (
  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  account TEXT COLLATE "C" NOT NULL,
  org TEXT COLLATE "C" NOT NULL DEFAULT '',
  project TEXT COLLATE "C" NOT NULL DEFAULT '',
  entity TEXT COLLATE "C" NOT NULL DEFAULT '',
  entity_metadata TEXT NOT NULL DEFAULT '',
  type TEXT COLLATE "C" NOT NULL,
  action TEXT COLLATE "C" NOT NULL,
  status TEXT COLLATE "C" NOT NULL,
  execution_id TEXT COLLATE "C" NOT NULL DEFAULT '',
  input TEXT NOT NULL DEFAULT 'null',
  details TEXT NOT NULL DEFAULT '[]',
  duration_us BIGINT NOT NULL DEFAULT 0,
  created BIGINT NOT NULL
);
CREATE INDEX policy_evaluations_by_scope ON policy_evaluations(account, org, project, id);
CREATE INDEX policy_evaluations_by_entity ON policy_evaluations(account, entity, id);
CREATE INDEX policy_evaluations_by_execution ON policy_evaluations(account, execution_id, id)
  WHERE execution_id != '';

CREATE TABLE policy_evaluation_counts (
  account TEXT COLLATE "C" NOT NULL,
  org TEXT COLLATE "C" NOT NULL,
  project TEXT COLLATE "C" NOT NULL,
  count BIGINT NOT NULL,
  PRIMARY KEY (account, org, project)
);
