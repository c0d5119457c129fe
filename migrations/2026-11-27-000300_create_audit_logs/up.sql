CREATE TABLE audit_logs (
    workspace_id  bigint NOT NULL REFERENCES workspaces (id),
    id            bigint GENERATED ALWAYS AS IDENTITY,
    actor_kind    text NOT NULL CHECK (actor_kind IN ('user', 'webhook', 'system')),
    actor_user_id bigint,
    -- The actor's email (or "webhook"/"system") as it was, so the row reads well forever.
    actor_label   text NOT NULL,
    action        text NOT NULL,
    module        text NOT NULL,
    entity_id     text,
    before        jsonb,
    after         jsonb,
    ip            text,
    request_id    text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, id),
    FOREIGN KEY (workspace_id, actor_user_id) REFERENCES users (workspace_id, id)
);
CREATE INDEX audit_logs_created_idx ON audit_logs (workspace_id, created_at DESC, id DESC);
CREATE INDEX audit_logs_actor_idx ON audit_logs (workspace_id, actor_user_id, created_at DESC);
CREATE INDEX audit_logs_action_idx ON audit_logs (workspace_id, action, created_at DESC);
CREATE INDEX audit_logs_module_idx ON audit_logs (workspace_id, module, created_at DESC);

-- The trail is append-only: the app can insert, never change or remove.
CREATE FUNCTION audit_logs_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit_logs is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER audit_logs_no_update_delete
    BEFORE UPDATE OR DELETE ON audit_logs
    FOR EACH ROW EXECUTE FUNCTION audit_logs_append_only();
CREATE TRIGGER audit_logs_no_truncate
    BEFORE TRUNCATE ON audit_logs
    FOR EACH STATEMENT EXECUTE FUNCTION audit_logs_append_only();
