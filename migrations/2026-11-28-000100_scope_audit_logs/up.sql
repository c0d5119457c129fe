-- Who may read an audit entry: a manager reads the entries about their departments' clients
-- and users, and their own actions. The client or user an entry is about becomes a typed
-- column derived from module and entity_id, so each part of a manager's scope is an index
-- walk in id order. Generated columns need no change in the writers (including the raw SQL
-- of the status rule and imports) and fill existing rows in the table rewrite, which fires
-- no row trigger, so the append-only trigger stays as it is.
ALTER TABLE audit_logs
    ADD COLUMN client_id bigint GENERATED ALWAYS AS (
        CASE WHEN module = 'clients' AND entity_id ~ '^[0-9]{1,18}$'
                  -- Older follow-up status rows named the follow-up, not its client.
                  AND NOT (action = 'follow_ups.status_changed' AND NOT coalesce(after ? 'follow_up_id', false))
             THEN entity_id::bigint END) STORED,
    ADD COLUMN subject_user_id bigint GENERATED ALWAYS AS (
        CASE WHEN module IN ('users', 'auth') AND entity_id ~ '^[0-9]{1,18}$' THEN entity_id::bigint END) STORED;

CREATE INDEX audit_logs_client_id_idx ON audit_logs (workspace_id, client_id, id DESC) WHERE client_id IS NOT NULL;
CREATE INDEX audit_logs_subject_user_idx ON audit_logs (workspace_id, subject_user_id, id DESC) WHERE subject_user_id IS NOT NULL;
-- The list is in id order: the actor index follows it (the user filter and a manager's own actions).
DROP INDEX audit_logs_actor_idx;
CREATE INDEX audit_logs_actor_idx ON audit_logs (workspace_id, actor_user_id, id DESC) WHERE actor_user_id IS NOT NULL;
