-- LOCK and UNLOCK as one statement each, so that the server sends them without BEGIN and
-- COMMIT: one round trip instead of three. Each does what the transaction it replaces did:
-- the workspace's row locked first (every lock change takes it), so the lock row read at the
-- end is the one that stopped this call; each statement inside sees what committed before it.
-- Answer, one row: whether the workspace exists, whether this call took (released) the lock,
-- and the holder's row when it did not (NULLs when nobody holds it). The two functions spell
-- their answers out: one shared SQL function for them (a LEFT JOIN from one row) measured
-- 15-20% fewer LOCK+UNLOCK pairs/s.
CREATE FUNCTION statehouse_acquire_lock(p_account TEXT, p_org TEXT, p_project TEXT,
                                        p_workspace TEXT, p_lock_id TEXT, p_info TEXT,
                                        p_manual BIGINT, p_reason TEXT, p_locked_by TEXT,
                                        p_created BIGINT)
RETURNS TABLE (workspace_found BOOLEAN, changed BOOLEAN, lock_id TEXT, info TEXT, manual BIGINT,
               reason TEXT, locked_by TEXT, created BIGINT)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
BEGIN
  PERFORM 1 FROM workspaces w WHERE w.account = p_account AND w.org = p_org
    AND w.project = p_project AND w.identifier = p_workspace FOR UPDATE;
  IF NOT FOUND THEN
    RETURN QUERY SELECT false, false, NULL::TEXT, NULL::TEXT, NULL::BIGINT, NULL::TEXT,
      NULL::TEXT, NULL::BIGINT;
    RETURN;
  END IF;
  INSERT INTO workspace_locks AS l (account, org, project, workspace, lock_id, info, manual,
                                    reason, locked_by, created)
    VALUES (p_account, p_org, p_project, p_workspace, p_lock_id, p_info, p_manual, p_reason,
            p_locked_by, p_created)
    ON CONFLICT DO NOTHING;
  IF FOUND THEN
    RETURN QUERY SELECT true, true, NULL::TEXT, NULL::TEXT, NULL::BIGINT, NULL::TEXT,
      NULL::TEXT, NULL::BIGINT;
    RETURN;
  END IF;
  RETURN QUERY SELECT true, false, l.lock_id, l.info, l.manual, l.reason, l.locked_by, l.created
    FROM workspace_locks l WHERE l.account = p_account AND l.org = p_org
      AND l.project = p_project AND l.workspace = p_workspace;
  IF NOT FOUND THEN  -- not locked
    RETURN QUERY SELECT true, false, NULL::TEXT, NULL::TEXT, NULL::BIGINT, NULL::TEXT,
      NULL::TEXT, NULL::BIGINT;
  END IF;
END
$$;

CREATE FUNCTION statehouse_release_lock(p_account TEXT, p_org TEXT, p_project TEXT,
                                        p_workspace TEXT, p_lock_id TEXT)
RETURNS TABLE (workspace_found BOOLEAN, changed BOOLEAN, lock_id TEXT, info TEXT, manual BIGINT,
               reason TEXT, locked_by TEXT, created BIGINT)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
BEGIN
  PERFORM 1 FROM workspaces w WHERE w.account = p_account AND w.org = p_org
    AND w.project = p_project AND w.identifier = p_workspace FOR UPDATE;
  IF NOT FOUND THEN
    RETURN QUERY SELECT false, false, NULL::TEXT, NULL::TEXT, NULL::BIGINT, NULL::TEXT,
      NULL::TEXT, NULL::BIGINT;
    RETURN;
  END IF;
  DELETE FROM workspace_locks l WHERE l.account = p_account AND l.org = p_org
    AND l.project = p_project AND l.workspace = p_workspace AND l.lock_id = p_lock_id;
  IF FOUND THEN
    RETURN QUERY SELECT true, true, NULL::TEXT, NULL::TEXT, NULL::BIGINT, NULL::TEXT,
      NULL::TEXT, NULL::BIGINT;
    RETURN;
  END IF;
  RETURN QUERY SELECT true, false, l.lock_id, l.info, l.manual, l.reason, l.locked_by, l.created
    FROM workspace_locks l WHERE l.account = p_account AND l.org = p_org
      AND l.project = p_project AND l.workspace = p_workspace;
  IF NOT FOUND THEN  -- not locked
    RETURN QUERY SELECT true, false, NULL::TEXT, NULL::TEXT, NULL::BIGINT, NULL::TEXT,
      NULL::TEXT, NULL::BIGINT;
  END IF;
END
$$;
