-- CSV imports. The uploaded file lives in the database (1 MiB chunks), not on an
-- instance's disk, so any instance can preview or run it; the chunks are deleted when the
-- import ends. All progress and results live here, so a reload (or another instance) shows them.
CREATE TABLE imports (
    workspace_id   bigint NOT NULL REFERENCES workspaces (id),
    id             bigint GENERATED ALWAYS AS IDENTITY,
    user_id        bigint NOT NULL,
    -- The uploaded file's name, sanitised; shown only, never used as a path.
    filename       text NOT NULL CHECK (length(filename) BETWEEN 1 AND 120),
    size_bytes     bigint NOT NULL DEFAULT 0,
    -- Line breaks in the file: the progress bar's estimate of its rows.
    line_count     bigint NOT NULL DEFAULT 0,
    status         text NOT NULL DEFAULT 'uploading'
                   CHECK (status IN ('uploading', 'uploaded', 'queued', 'running', 'done', 'failed')),
    -- While running: reading, checking, writing.
    phase          text NOT NULL DEFAULT '',
    encoding       text NOT NULL,
    delimiter      text NOT NULL CHECK (delimiter IN (',', ';', E'\t')),
    headers        jsonb NOT NULL DEFAULT '[]',
    -- Column mapping, upsert key, what to do with existing clients, mode and defaults.
    settings       jsonb,
    rows_read      bigint NOT NULL DEFAULT 0,
    rows_created   bigint NOT NULL DEFAULT 0,
    rows_updated   bigint NOT NULL DEFAULT 0,
    rows_unchanged bigint NOT NULL DEFAULT 0,
    rows_skipped   bigint NOT NULL DEFAULT 0,
    rows_rejected  bigint NOT NULL DEFAULT 0,
    error          text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    started_at     timestamptz,
    finished_at    timestamptz,
    PRIMARY KEY (workspace_id, id),
    FOREIGN KEY (workspace_id, user_id) REFERENCES users (workspace_id, id)
);
-- Which import created a client: its creation is audited once, by the import's own entry
-- (who, file, counts), instead of one audit row per created client. No foreign key, so the
-- insert of a million clients pays no per-row check; imports with clients are never deleted.
ALTER TABLE clients ADD COLUMN import_id bigint;

CREATE INDEX imports_user_idx ON imports (workspace_id, user_id, created_at DESC);
CREATE INDEX imports_status_idx ON imports (status, created_at) WHERE status IN ('uploading', 'uploaded');

CREATE TABLE import_chunks (
    workspace_id bigint NOT NULL,
    import_id    bigint NOT NULL,
    seq          integer NOT NULL,
    data         bytea NOT NULL,
    PRIMARY KEY (workspace_id, import_id, seq),
    FOREIGN KEY (workspace_id, import_id) REFERENCES imports (workspace_id, id) ON DELETE CASCADE
);
-- Stored as is: compressing 50 MB at upload costs more than the space it saves for a few minutes.
ALTER TABLE import_chunks ALTER COLUMN data SET STORAGE EXTERNAL;

-- One row per rejected line: its spreadsheet row number (the header is row 1), the
-- problems (column and reason) and the original cells, for the report and errors.csv.
CREATE TABLE import_errors (
    workspace_id bigint NOT NULL,
    import_id    bigint NOT NULL,
    row_number   bigint NOT NULL,
    problems     jsonb NOT NULL,
    raw          jsonb NOT NULL,
    PRIMARY KEY (workspace_id, import_id, row_number),
    FOREIGN KEY (workspace_id, import_id) REFERENCES imports (workspace_id, id) ON DELETE CASCADE
);
