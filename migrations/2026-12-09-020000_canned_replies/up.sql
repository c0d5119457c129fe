-- Canned replies (issue 22 part 3): the workspace's (owner_id NULL, admins manage them) and
-- each person's own (owner_id the user). A shortcut is unique among the workspace's and
-- among each person's own; a person's own may share a shortcut with one of the workspace's
-- (the picker lists both).
CREATE TABLE canned_replies (
    workspace_id bigint NOT NULL REFERENCES workspaces (id),
    id           bigint GENERATED ALWAYS AS IDENTITY,
    owner_id     bigint,
    title        text NOT NULL CHECK (length(title) BETWEEN 1 AND 100),
    shortcut     text NOT NULL CHECK (shortcut ~ '^[a-z0-9][a-z0-9_-]{0,29}$'),
    body         text NOT NULL CHECK (length(body) BETWEEN 1 AND 4096),
    created_by   bigint,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, id),
    FOREIGN KEY (workspace_id, owner_id) REFERENCES users (workspace_id, id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX canned_replies_shortcut_idx ON canned_replies (workspace_id, coalesce(owner_id, 0), shortcut);
