-- A counter that every change of policies or policy sets moves, in the same transaction. A
-- replica that remembers the applicable policy sets reads this one row before using them
-- (instead of loading the sets again on every save, plan and state write): a change made
-- through any replica is seen by the next read.
CREATE TABLE policy_generation (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  n BIGINT NOT NULL
);
INSERT INTO policy_generation (id, n) VALUES (1, 0);
