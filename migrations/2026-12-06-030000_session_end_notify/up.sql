-- A signed-in session that ends (sign-out, a revoke, "sign out everywhere", a password
-- change or reset, a deactivated user, expiry: every path deletes its row) is announced on
-- `switchboard_sessions` as '<workspace_id>:<key_hash>', at commit, so every instance ends
-- that session's open event streams at once instead of at their next ping.
CREATE FUNCTION announce_session_end() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('switchboard_sessions', OLD.workspace_id::text || ':' || OLD.key_hash);
    RETURN NULL;
END
$$;

CREATE TRIGGER sessions_announce_end AFTER DELETE ON sessions
    FOR EACH ROW WHEN (OLD.workspace_id IS NOT NULL AND OLD.user_id IS NOT NULL)
    EXECUTE FUNCTION announce_session_end();
