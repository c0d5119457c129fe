-- Attachments of messages (issue 22). An inbound message's media arrive as the provider's
-- URLs; each becomes a row here when the message is stored, and a job fetches the file into
-- `media_chunks` (in the database, so instances keep no files of their own). `declared_type`
-- is what the sender said; `content_type` is what the content turned out to be once fetched.
CREATE TABLE media (
    workspace_id   bigint NOT NULL,
    id             bigint GENERATED ALWAYS AS IDENTITY,
    message_id     bigint NOT NULL,
    position       smallint NOT NULL CHECK (position BETWEEN 0 AND 9),
    provider_url   text NOT NULL CHECK (length(provider_url) <= 2000),
    declared_type  text CHECK (length(declared_type) <= 200),
    content_type   text CHECK (length(content_type) <= 200),
    filename       text CHECK (length(filename) <= 255),
    size_bytes     bigint CHECK (size_bytes >= 0),
    status         text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'stored', 'failed')),
    error          text CHECK (length(error) <= 500),
    created_at     timestamptz NOT NULL DEFAULT now(),
    stored_at      timestamptz,
    PRIMARY KEY (workspace_id, id),
    UNIQUE (workspace_id, message_id, position),
    FOREIGN KEY (workspace_id, message_id) REFERENCES messages (workspace_id, id) ON DELETE CASCADE
);

CREATE TABLE media_chunks (
    workspace_id bigint NOT NULL,
    media_id     bigint NOT NULL,
    seq          integer NOT NULL CHECK (seq >= 0),
    data         bytea NOT NULL,
    PRIMARY KEY (workspace_id, media_id, seq),
    FOREIGN KEY (workspace_id, media_id) REFERENCES media (workspace_id, id) ON DELETE CASCADE
);
