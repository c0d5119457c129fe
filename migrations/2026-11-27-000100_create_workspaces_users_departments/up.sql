-- Tenancy: every tenant table carries workspace_id, and every key between tenant tables
-- includes it, so the schema can later be distributed by workspace (Citus) and
-- row-level security can key on it.
CREATE TABLE workspaces (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    -- Public, unguessable key used in webhook URLs (never the numeric id).
    webhook_key text NOT NULL UNIQUE DEFAULT replace(gen_random_uuid()::text, '-', ''),
    time_zone   text NOT NULL DEFAULT 'UTC',
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX workspaces_name_key ON workspaces (lower(name));

CREATE TABLE users (
    workspace_id  bigint NOT NULL REFERENCES workspaces (id),
    id            bigint GENERATED ALWAYS AS IDENTITY,
    email         text NOT NULL CHECK (length(email) BETWEEN 3 AND 254),
    name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    role          text NOT NULL CHECK (role IN ('admin', 'manager', 'agent')),
    password_hash text NOT NULL,
    active        boolean NOT NULL DEFAULT true,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, id)
);
CREATE UNIQUE INDEX users_workspace_email_key ON users (workspace_id, lower(email));
-- Login looks a user up by email before it knows the workspace.
CREATE INDEX users_email_idx ON users (lower(email));
SELECT diesel_manage_updated_at('users');

CREATE TABLE departments (
    workspace_id bigint NOT NULL REFERENCES workspaces (id),
    id           bigint GENERATED ALWAYS AS IDENTITY,
    name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, id)
);
CREATE UNIQUE INDEX departments_workspace_name_key ON departments (workspace_id, lower(name));

CREATE TABLE user_departments (
    workspace_id  bigint NOT NULL,
    user_id       bigint NOT NULL,
    department_id bigint NOT NULL,
    PRIMARY KEY (workspace_id, user_id, department_id),
    FOREIGN KEY (workspace_id, user_id) REFERENCES users (workspace_id, id) ON DELETE CASCADE,
    FOREIGN KEY (workspace_id, department_id) REFERENCES departments (workspace_id, id) ON DELETE CASCADE
);
CREATE INDEX user_departments_department_idx ON user_departments (workspace_id, department_id);
