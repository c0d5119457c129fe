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
    ELSE
        UPDATE chats SET last_message_id = NEW.id, last_message_at = greatest(last_message_at, NEW.created_at)
        WHERE workspace_id = NEW.workspace_id AND client_id = NEW.client_id AND channel = NEW.channel;
    END IF;
    RETURN NULL;
END
$$;
