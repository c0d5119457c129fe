-- Issue 18: a message whose outcome is unknown is resent at most once. The row is written
-- in the transaction that queues the copy, under a lock on the old message; its key makes a
-- second resend impossible whatever the race.
CREATE TABLE message_resends (
    workspace_id   bigint NOT NULL,
    message_id     bigint NOT NULL,
    new_message_id bigint NOT NULL,
    resent_by      bigint,
    resent_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, message_id),
    FOREIGN KEY (workspace_id, message_id) REFERENCES messages (workspace_id, id) ON DELETE CASCADE,
    FOREIGN KEY (workspace_id, new_message_id) REFERENCES messages (workspace_id, id) ON DELETE CASCADE,
    FOREIGN KEY (workspace_id, resent_by) REFERENCES users (workspace_id, id) ON DELETE SET NULL (resent_by)
);
