-- Retention and garbage collection: the sweep asks, blob by blob, whether any row still
-- references a blob, so these lookups go by index.
CREATE INDEX workspace_data_by_sha256 ON workspace_data(sha256);
CREATE INDEX remote_executions_by_sha256 ON remote_executions(sha256);
