-- Per-workspace SMTP (falls back to SMTP_URL). The password is sealed with a key derived
-- from the secret key (ChaCha20-Poly1305) and never shown again.
CREATE TABLE smtp_settings (
    workspace_id    bigint PRIMARY KEY REFERENCES workspaces (id),
    host            text NOT NULL CHECK (length(host) BETWEEN 1 AND 253),
    port            integer NOT NULL CHECK (port BETWEEN 1 AND 65535),
    tls_mode        text NOT NULL CHECK (tls_mode IN ('none', 'starttls', 'tls')),
    username        text,
    password_sealed bytea,
    from_address    text NOT NULL CHECK (length(from_address) BETWEEN 3 AND 320),
    updated_at      timestamptz NOT NULL DEFAULT now()
);

-- In-app notifications, per user. `dedupe_key` makes "one reminder per owner per day" a
-- constraint rather than a hope.
CREATE TABLE notifications (
    workspace_id bigint NOT NULL,
    id           bigint GENERATED ALWAYS AS IDENTITY,
    user_id      bigint NOT NULL,
    kind         text NOT NULL,
    title        text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    body         text NOT NULL DEFAULT '' CHECK (length(body) <= 10000),
    link         text,
    dedupe_key   text,
    read_at      timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, id),
    FOREIGN KEY (workspace_id, user_id) REFERENCES users (workspace_id, id) ON DELETE CASCADE,
    UNIQUE (workspace_id, user_id, dedupe_key)
);
CREATE INDEX notifications_list_idx ON notifications (workspace_id, user_id, (read_at IS NOT NULL), created_at DESC, id DESC);
CREATE INDEX notifications_unread_idx ON notifications (workspace_id, user_id) WHERE read_at IS NULL;

-- Single-use tokens for password reset (1 h) and invitations (7 days); only their SHA-256
-- is stored. Looked up by hash before the workspace is known.
CREATE TABLE auth_tokens (
    workspace_id bigint NOT NULL,
    id           bigint GENERATED ALWAYS AS IDENTITY,
    user_id      bigint NOT NULL,
    purpose      text NOT NULL CHECK (purpose IN ('reset', 'invite')),
    token_hash   text NOT NULL UNIQUE,
    expires_at   timestamptz NOT NULL,
    used_at      timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, id),
    FOREIGN KEY (workspace_id, user_id) REFERENCES users (workspace_id, id) ON DELETE CASCADE
);
CREATE INDEX auth_tokens_user_idx ON auth_tokens (workspace_id, user_id, purpose);

-- Requests that are throttled but are not failed logins (password reset requests).
CREATE TABLE rate_events (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    bucket     text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX rate_events_bucket_idx ON rate_events (bucket, created_at);
