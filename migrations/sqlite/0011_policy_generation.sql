-- A counter that every change of policies or policy sets moves, in the same transaction (see
-- the PostgreSQL migration of the same number: there replicas read it; on SQLite, where one
-- process writes, it is kept for one schema on both).
CREATE TABLE policy_generation (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  n INTEGER NOT NULL
);
INSERT INTO policy_generation (id, n) VALUES (1, 0);
