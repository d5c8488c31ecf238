-- Retention and garbage collection. The sweep deletes a blob only when no row references it
-- AND it was not stored or re-stored (touched, unix ms) within the grace period: a Put of a
-- blob that already exists refreshes touched (one UPDATE that waits on, or makes wait, the
-- sweep's DELETE of that row), so an upload racing the sweep keeps its bytes.
ALTER TABLE blobs ADD COLUMN touched BIGINT NOT NULL DEFAULT 0;
UPDATE blobs SET touched = (extract(epoch FROM now()) * 1000)::BIGINT;
CREATE INDEX workspace_data_by_sha256 ON workspace_data(sha256);
CREATE INDEX remote_executions_by_sha256 ON remote_executions(sha256);
