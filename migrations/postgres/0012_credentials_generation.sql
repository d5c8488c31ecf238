-- A counter that every statement changing token rows moves, in its own transaction: a trigger,
-- so that tokens deleted with their API key (ON DELETE CASCADE) count too. Replicas keep
-- verified token rows while it stands still, instead of reading them again after every commit
-- of any kind; they read it with their heartbeat, and the notification on
-- statehouse_credentials (sent only by these rare transactions) makes them forget sooner.
CREATE TABLE credentials_generation (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  n BIGINT NOT NULL
);
INSERT INTO credentials_generation (id, n) VALUES (1, 0);

CREATE FUNCTION statehouse_credentials_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE credentials_generation SET n = n + 1 WHERE id = 1;
  PERFORM pg_notify('statehouse_credentials', '');
  RETURN NULL;
END
$$;

CREATE TRIGGER tokens_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON tokens
  FOR EACH STATEMENT EXECUTE FUNCTION statehouse_credentials_changed();
