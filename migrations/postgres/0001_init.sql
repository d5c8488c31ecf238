-- PostgreSQL schema; mirrors migrations/sqlite. Text keys use the C collation so lists sort
-- byte-wise, as on SQLite.
-- Accounts, organizations, projects, API keys and tokens.
-- Counters (org_count, project_count) make unfiltered list totals O(1).
CREATE TABLE accounts (
  identifier TEXT COLLATE "C" PRIMARY KEY,
  created BIGINT NOT NULL,
  org_count BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE orgs (
  account TEXT COLLATE "C" NOT NULL REFERENCES accounts(identifier),
  identifier TEXT COLLATE "C" NOT NULL,
  name TEXT COLLATE "C" NOT NULL,
  description TEXT NOT NULL DEFAULT '',
  tags TEXT NOT NULL DEFAULT '{}',
  harness_managed BIGINT NOT NULL DEFAULT 0,
  created BIGINT NOT NULL,
  updated BIGINT NOT NULL,
  version BIGINT NOT NULL DEFAULT 1,
  project_count BIGINT NOT NULL DEFAULT 0,
  PRIMARY KEY (account, identifier)
);
CREATE INDEX orgs_by_name ON orgs(account, name, identifier);
CREATE INDEX orgs_by_created ON orgs(account, created, identifier);
CREATE INDEX orgs_by_updated ON orgs(account, updated, identifier);

CREATE TABLE projects (
  account TEXT COLLATE "C" NOT NULL,
  org TEXT COLLATE "C" NOT NULL,
  identifier TEXT COLLATE "C" NOT NULL,
  name TEXT COLLATE "C" NOT NULL,
  description TEXT NOT NULL DEFAULT '',
  color TEXT NOT NULL DEFAULT '',
  modules TEXT NOT NULL DEFAULT '[]',
  tags TEXT NOT NULL DEFAULT '{}',
  created BIGINT NOT NULL,
  updated BIGINT NOT NULL,
  version BIGINT NOT NULL DEFAULT 1,
  PRIMARY KEY (account, org, identifier),
  FOREIGN KEY (account, org) REFERENCES orgs(account, identifier)
);
CREATE INDEX projects_by_name ON projects(account, org, name, identifier);
CREATE INDEX projects_by_created ON projects(account, org, created, identifier);
CREATE INDEX projects_by_updated ON projects(account, org, updated, identifier);

CREATE TABLE api_keys (
  account TEXT COLLATE "C" NOT NULL REFERENCES accounts(identifier),
  identifier TEXT COLLATE "C" NOT NULL,
  name TEXT COLLATE "C" NOT NULL,
  description TEXT NOT NULL DEFAULT '',
  tags TEXT NOT NULL DEFAULT '{}',
  api_key_type TEXT NOT NULL,
  parent_identifier TEXT NOT NULL,
  default_time_to_expire_token BIGINT,
  org TEXT COLLATE "C" NOT NULL DEFAULT '',
  project TEXT COLLATE "C" NOT NULL DEFAULT '',
  created BIGINT NOT NULL,
  updated BIGINT NOT NULL,
  PRIMARY KEY (account, identifier)
);
CREATE INDEX api_keys_by_name ON api_keys(account, name, identifier);

CREATE TABLE tokens (
  account TEXT COLLATE "C" NOT NULL,
  identifier TEXT COLLATE "C" NOT NULL,
  name TEXT COLLATE "C" NOT NULL,
  description TEXT NOT NULL DEFAULT '',
  tags TEXT NOT NULL DEFAULT '{}',
  api_key_identifier TEXT NOT NULL,
  api_key_type TEXT NOT NULL,
  parent_identifier TEXT NOT NULL,
  org TEXT COLLATE "C" NOT NULL DEFAULT '',
  project TEXT COLLATE "C" NOT NULL DEFAULT '',
  role TEXT NOT NULL,
  valid_from BIGINT NOT NULL,
  valid_to BIGINT,
  scheduled_expire_time BIGINT,
  secret_salt TEXT NOT NULL,
  secret_hash TEXT NOT NULL,
  previous_salt TEXT NOT NULL DEFAULT '',
  previous_hash TEXT NOT NULL DEFAULT '',
  previous_valid_until BIGINT NOT NULL DEFAULT 0,
  created BIGINT NOT NULL,
  updated BIGINT NOT NULL,
  PRIMARY KEY (account, identifier),
  FOREIGN KEY (account, api_key_identifier) REFERENCES api_keys(account, identifier)
    ON DELETE CASCADE
);
CREATE INDEX tokens_by_key ON tokens(account, api_key_identifier, name, identifier);
CREATE INDEX tokens_by_name ON tokens(account, name, identifier);
