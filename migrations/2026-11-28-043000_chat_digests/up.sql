-- Issue 13: the optional hourly email digest of unread chat messages assigned to a user.
-- A row means "on" (hourly); `since` is when the last digest was sent (or the setting turned
-- on): the next digest lists the chats with unread messages that came after it.
CREATE TABLE chat_digests (
    workspace_id bigint NOT NULL,
    user_id      bigint NOT NULL,
    since        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, user_id),
    FOREIGN KEY (workspace_id, user_id) REFERENCES users (workspace_id, id) ON DELETE CASCADE
);
