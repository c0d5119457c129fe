-- Server-side session state for actix-session. The cookie carries a random key; only its
-- SHA-256 is stored, so a copy of this table does not let anyone sign in.
-- Sessions are looked up by key before the workspace is known, so this table is keyed by
-- the key hash alone (on Citus it stays a local table on the coordinator).
CREATE TABLE sessions (
    key_hash     text PRIMARY KEY,
    workspace_id bigint,
    user_id      bigint,
    state        jsonb NOT NULL,
    ip           text,
    user_agent   text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_seen_at timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    FOREIGN KEY (workspace_id, user_id) REFERENCES users (workspace_id, id) ON DELETE CASCADE
);
CREATE INDEX sessions_user_idx ON sessions (workspace_id, user_id);
CREATE INDEX sessions_expires_idx ON sessions (expires_at);

-- Failed logins, for throttling per account and per IP. Kept in the database so that
-- every app instance sees the same counts.
CREATE TABLE login_failures (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email      text NOT NULL,
    ip         text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX login_failures_email_idx ON login_failures (email, created_at);
CREATE INDEX login_failures_ip_idx ON login_failures (ip, created_at);
