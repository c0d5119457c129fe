-- Issue 22 part 5: a campaign or flow send (a message with a batch) does not move its chat.
-- The inbox sorts by the last message of a person or the client, and shows that message as
-- the chat's preview; the automated send is still in the conversation (and its live event
-- still reaches an open conversation: `chat_message_event` is unchanged).
CREATE OR REPLACE FUNCTION chat_on_message() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.client_id IS NULL THEN
        RETURN NULL;
    END IF;
    IF NEW.direction = 'inbound' THEN
        INSERT INTO chats (workspace_id, client_id, channel, last_message_id, last_message_at, last_inbound_at, inbound_count)
        VALUES (NEW.workspace_id, NEW.client_id, NEW.channel, NEW.id, NEW.created_at, NEW.created_at, 1)
        ON CONFLICT (workspace_id, client_id, channel) DO UPDATE SET
            last_message_id = EXCLUDED.last_message_id,
            last_message_at = greatest(chats.last_message_at, EXCLUDED.last_message_at),
            last_inbound_at = greatest(chats.last_inbound_at, EXCLUDED.last_inbound_at),
            inbound_count = chats.inbound_count + 1,
            status = 'open',
            closed_at = NULL;
    ELSIF NEW.batch_id IS NULL THEN
        UPDATE chats SET last_message_id = NEW.id, last_message_at = greatest(last_message_at, NEW.created_at)
        WHERE workspace_id = NEW.workspace_id AND client_id = NEW.client_id AND channel = NEW.channel;
    END IF;
    RETURN NULL;
END
$$;

-- The chats an automated send moved already: back to their last message of a person or the
-- client (or, with none, to when the chat was opened).
WITH moved AS (
    SELECT c.workspace_id, c.id, l.id AS last_id, coalesce(l.created_at, c.created_at) AS last_at
    FROM chats c
    JOIN messages m ON m.workspace_id = c.workspace_id AND m.id = c.last_message_id AND m.batch_id IS NOT NULL
    LEFT JOIN LATERAL (
        SELECT x.id, x.created_at FROM messages x
        WHERE x.workspace_id = c.workspace_id AND x.client_id = c.client_id AND x.channel = c.channel
          AND (x.direction = 'inbound' OR x.batch_id IS NULL)
        ORDER BY x.created_at DESC, x.id DESC LIMIT 1
    ) l ON true
)
UPDATE chats c SET last_message_id = moved.last_id, last_message_at = moved.last_at
FROM moved WHERE c.workspace_id = moved.workspace_id AND c.id = moved.id;
