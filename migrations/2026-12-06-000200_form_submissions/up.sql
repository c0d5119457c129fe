-- Issue 18: one-time forms. A form that sends or creates carries a nonce; its key (the nonce
-- and a digest of what was submitted, per user) is claimed in the transaction that does the
-- work, so a repeat (double click, retry) finds the first and answers with its result.
CREATE TABLE form_submissions (
    workspace_id bigint NOT NULL,
    user_id      bigint NOT NULL,
    token        text NOT NULL CHECK (length(token) BETWEEN 16 AND 64),
    digest       bytea NOT NULL CHECK (length(digest) = 32),
    -- Where the first submission's result is shown (a path on this site), when it has one.
    result       text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, user_id, token, digest),
    FOREIGN KEY (workspace_id, user_id) REFERENCES users (workspace_id, id) ON DELETE CASCADE
);
CREATE INDEX form_submissions_created_idx ON form_submissions (created_at);
