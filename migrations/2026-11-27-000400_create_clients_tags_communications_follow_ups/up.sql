CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- Phone numbers without a country code are read in this country (ISO 3166 alpha-2).
ALTER TABLE workspaces ADD COLUMN default_country text NOT NULL DEFAULT 'US'
    CHECK (default_country ~ '^[A-Z]{2}$');

CREATE TABLE clients (
    workspace_id        bigint NOT NULL REFERENCES workspaces (id),
    id                  bigint GENERATED ALWAYS AS IDENTITY,
    name                text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    -- Stored lower-cased; NULLs do not collide in the unique keys below.
    email               text CHECK (length(email) <= 254),
    -- E.164, e.g. +14155550123.
    phone               text CHECK (phone ~ '^\+[1-9][0-9]{6,14}$'),
    company             text CHECK (length(company) <= 200),
    status              text NOT NULL DEFAULT 'warm' CHECK (status IN ('hot', 'warm', 'inactive')),
    -- 'hand' or 'rule': the daily status job only overrides what a rule set, or a hand-set
    -- status older than the configured grace period.
    status_source       text NOT NULL DEFAULT 'hand' CHECK (status_source IN ('hand', 'rule')),
    status_changed_at   timestamptz NOT NULL DEFAULT now(),
    assigned_to         bigint,
    notes               text NOT NULL DEFAULT '' CHECK (length(notes) <= 10000),
    opt_out_whatsapp_at timestamptz,
    opt_out_whatsapp_source text,
    opt_out_sms_at      timestamptz,
    opt_out_sms_source  text,
    opt_out_email_at    timestamptz,
    opt_out_email_source text,
    last_contacted_at   timestamptz,
    -- Optimistic concurrency: an edit names the version it started from.
    version             integer NOT NULL DEFAULT 1,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    -- What the search box matches: name, email, phone, company (trigram-indexed).
    search              text GENERATED ALWAYS AS (
        lower(name || ' ' || coalesce(email, '') || ' ' || coalesce(phone, '') || ' ' || coalesce(company, ''))
    ) STORED,
    -- The name sort key as a column, so the list indexes below can serve index-only scans.
    sort_name           text GENERATED ALWAYS AS (lower(name)) STORED,
    PRIMARY KEY (workspace_id, id),
    UNIQUE (workspace_id, email),
    UNIQUE (workspace_id, phone),
    FOREIGN KEY (workspace_id, assigned_to) REFERENCES users (workspace_id, id)
);
SELECT diesel_manage_updated_at('clients');
-- Rare search terms go through the trigram index. Common ones (and plain pages) walk the
-- index of the chosen sort order and test each entry's included search/status/assignee
-- without touching the table: the list query first picks the page's ids by an index-only
-- scan, then loads those 50 rows.
CREATE INDEX clients_search_trgm ON clients USING gin (search gin_trgm_ops);
CREATE INDEX clients_name_idx ON clients (workspace_id, sort_name, id) INCLUDE (search, status, assigned_to);
CREATE INDEX clients_created_idx ON clients (workspace_id, created_at DESC, id DESC) INCLUDE (search, status, assigned_to);
CREATE INDEX clients_last_contacted_idx ON clients (workspace_id, last_contacted_at DESC NULLS LAST, id DESC)
    INCLUDE (search, status, assigned_to);
CREATE INDEX clients_assigned_idx ON clients (workspace_id, assigned_to, sort_name, id) INCLUDE (search, status);

CREATE TABLE client_departments (
    workspace_id  bigint NOT NULL,
    client_id     bigint NOT NULL,
    department_id bigint NOT NULL,
    PRIMARY KEY (workspace_id, client_id, department_id),
    FOREIGN KEY (workspace_id, client_id) REFERENCES clients (workspace_id, id) ON DELETE CASCADE,
    FOREIGN KEY (workspace_id, department_id) REFERENCES departments (workspace_id, id) ON DELETE CASCADE
);
CREATE INDEX client_departments_department_idx ON client_departments (workspace_id, department_id, client_id);

CREATE TABLE tags (
    workspace_id bigint NOT NULL REFERENCES workspaces (id),
    id           bigint GENERATED ALWAYS AS IDENTITY,
    name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 50),
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, id)
);
CREATE UNIQUE INDEX tags_workspace_name_key ON tags (workspace_id, lower(name));

CREATE TABLE client_tags (
    workspace_id bigint NOT NULL,
    client_id    bigint NOT NULL,
    tag_id       bigint NOT NULL,
    PRIMARY KEY (workspace_id, client_id, tag_id),
    FOREIGN KEY (workspace_id, client_id) REFERENCES clients (workspace_id, id) ON DELETE CASCADE,
    FOREIGN KEY (workspace_id, tag_id) REFERENCES tags (workspace_id, id) ON DELETE CASCADE
);
CREATE INDEX client_tags_tag_idx ON client_tags (workspace_id, tag_id, client_id);

CREATE TABLE communications (
    workspace_id bigint NOT NULL,
    id           bigint GENERATED ALWAYS AS IDENTITY,
    client_id    bigint NOT NULL,
    user_id      bigint,
    kind         text NOT NULL CHECK (kind IN ('call', 'email', 'meeting', 'note')),
    occurred_at  timestamptz NOT NULL,
    notes        text NOT NULL DEFAULT '' CHECK (length(notes) <= 10000),
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, id),
    FOREIGN KEY (workspace_id, client_id) REFERENCES clients (workspace_id, id) ON DELETE CASCADE,
    FOREIGN KEY (workspace_id, user_id) REFERENCES users (workspace_id, id)
);
CREATE INDEX communications_client_idx ON communications (workspace_id, client_id, occurred_at DESC, id DESC);
CREATE INDEX communications_occurred_idx ON communications (workspace_id, occurred_at);

CREATE TABLE follow_ups (
    workspace_id bigint NOT NULL,
    id           bigint GENERATED ALWAYS AS IDENTITY,
    client_id    bigint NOT NULL,
    assigned_to  bigint NOT NULL,
    created_by   bigint,
    due_at       timestamptz NOT NULL,
    notes        text NOT NULL DEFAULT '' CHECK (length(notes) <= 10000),
    status       text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'completed', 'cancelled')),
    completed_at timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, id),
    FOREIGN KEY (workspace_id, client_id) REFERENCES clients (workspace_id, id) ON DELETE CASCADE,
    FOREIGN KEY (workspace_id, assigned_to) REFERENCES users (workspace_id, id),
    FOREIGN KEY (workspace_id, created_by) REFERENCES users (workspace_id, id)
);
SELECT diesel_manage_updated_at('follow_ups');
CREATE INDEX follow_ups_client_idx ON follow_ups (workspace_id, client_id, due_at DESC);
CREATE INDEX follow_ups_owner_idx ON follow_ups (workspace_id, assigned_to, status, due_at);
CREATE INDEX follow_ups_due_idx ON follow_ups (workspace_id, status, due_at);
