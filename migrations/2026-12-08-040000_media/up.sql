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

-- An attachment fetched (or given up on) is news for its chat: a `status` event for its
-- message, so an open conversation shows the photo in place of "downloading".
CREATE FUNCTION media_event() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    chat bigint;
    msg messages%ROWTYPE;
BEGIN
    SELECT * INTO msg FROM messages m WHERE m.workspace_id = NEW.workspace_id AND m.id = NEW.message_id;
    IF msg.client_id IS NULL THEN
        RETURN NULL;
    END IF;
    SELECT c.id INTO chat FROM chats c
    WHERE c.workspace_id = msg.workspace_id AND c.client_id = msg.client_id AND c.channel = msg.channel;
    IF chat IS NULL THEN
        RETURN NULL;
    END IF;
    PERFORM emit_event(NEW.workspace_id, 'status', msg.client_id, chat, NULL,
        jsonb_build_object('chat_id', chat, 'message_id', msg.id, 'status', msg.status, 'direction', msg.direction, 'media', NEW.status));
    RETURN NULL;
END
$$;
CREATE TRIGGER media_event AFTER UPDATE OF status ON media FOR EACH ROW
    WHEN (NEW.status IS DISTINCT FROM OLD.status) EXECUTE FUNCTION media_event();
