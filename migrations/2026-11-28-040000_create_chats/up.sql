-- The chat inbox (issue 13): one chat per client and channel, opened by an inbound message
-- or by a person; who has read how much of it; and the short log of live events that every
-- instance fans out to its server-sent-event streams.

-- `inbound_count` counts the client's messages in this chat; a reader's unread count is
-- that minus their `chat_reads.read_count`, so neither the inbox nor the badge ever counts
-- message rows. `last_inbound_at` opens WhatsApp's 24-hour customer service window.
CREATE TABLE chats (
    workspace_id    bigint NOT NULL REFERENCES workspaces (id),
    id              bigint GENERATED ALWAYS AS IDENTITY,
    client_id       bigint NOT NULL,
    channel         text NOT NULL CHECK (channel IN ('whatsapp', 'sms')),
    status          text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
    assignee_id     bigint,
    last_message_id bigint,
    last_message_at timestamptz NOT NULL DEFAULT now(),
    last_inbound_at timestamptz,
    inbound_count   bigint NOT NULL DEFAULT 0,
    created_at      timestamptz NOT NULL DEFAULT now(),
    closed_at       timestamptz,
    PRIMARY KEY (workspace_id, id),
    UNIQUE (workspace_id, client_id, channel),
    FOREIGN KEY (workspace_id, client_id) REFERENCES clients (workspace_id, id) ON DELETE CASCADE,
    FOREIGN KEY (workspace_id, assignee_id) REFERENCES users (workspace_id, id)
);
-- The inbox: newest activity first, per status and per assignee.
CREATE INDEX chats_inbox_idx ON chats (workspace_id, status, last_message_at DESC, id DESC);
CREATE INDEX chats_assignee_idx ON chats (workspace_id, assignee_id, status, last_message_at DESC, id DESC);

CREATE TABLE chat_reads (
    workspace_id bigint NOT NULL,
    chat_id      bigint NOT NULL,
    user_id      bigint NOT NULL,
    read_count   bigint NOT NULL DEFAULT 0,
    read_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, chat_id, user_id),
    FOREIGN KEY (workspace_id, chat_id) REFERENCES chats (workspace_id, id) ON DELETE CASCADE,
    FOREIGN KEY (workspace_id, user_id) REFERENCES users (workspace_id, id) ON DELETE CASCADE
);
CREATE INDEX chat_reads_user_idx ON chat_reads (workspace_id, user_id);

-- Every message moves its chat, whatever path wrote it: an inbound message opens the chat
-- (or reopens a closed one) and opens the 24-hour window; an outbound one moves an existing
-- chat's last message (a campaign send alone opens no chat).
CREATE FUNCTION chat_on_message() RETURNS trigger LANGUAGE plpgsql AS $$
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
CREATE TRIGGER chat_on_message AFTER INSERT ON messages FOR EACH ROW EXECUTE FUNCTION chat_on_message();

-- Chats for the conversations that already exist: one per client and channel with an
-- inbound message.
INSERT INTO chats (workspace_id, client_id, channel, last_message_id, last_message_at, last_inbound_at, inbound_count)
SELECT m.workspace_id, m.client_id, m.channel,
       (array_agg(m.id ORDER BY m.created_at DESC, m.id DESC))[1], max(m.created_at),
       max(m.created_at) FILTER (WHERE m.direction = 'inbound'), count(*) FILTER (WHERE m.direction = 'inbound')
FROM messages m
WHERE m.client_id IS NOT NULL
GROUP BY m.workspace_id, m.client_id, m.channel
HAVING count(*) FILTER (WHERE m.direction = 'inbound') > 0;

-- The live events of the last hour (pruned by a job), in commit order of their ids as far
-- as a reconnecting stream needs: `GET /events` replays what came after its Last-Event-ID.
-- `user_id` set: for that user only (badges, notifications); else for everyone who may see
-- the client or the chat.
CREATE TABLE events (
    workspace_id bigint NOT NULL REFERENCES workspaces (id),
    id           bigint GENERATED ALWAYS AS IDENTITY,
    kind         text NOT NULL CHECK (length(kind) BETWEEN 1 AND 40),
    client_id    bigint,
    chat_id      bigint,
    user_id      bigint,
    data         jsonb NOT NULL DEFAULT '{}',
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, id)
);
CREATE INDEX events_created_idx ON events (created_at);

-- Writes an event and wakes every instance's listener (NOTIFY is sent at commit, so a
-- rolled-back write announces nothing). The payload is "workspace_id:event_id".
CREATE FUNCTION emit_event(ws bigint, kind text, client bigint, chat bigint, target_user bigint, data jsonb) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    new_id bigint;
BEGIN
    INSERT INTO events (workspace_id, kind, client_id, chat_id, user_id, data)
    VALUES (ws, kind, client, chat, target_user, data)
    RETURNING id INTO new_id;
    PERFORM pg_notify('switchboard_events', ws || ':' || new_id);
    RETURN new_id;
END
$$;

-- The events come from the rows themselves, whatever path wrote them (webhooks, jobs,
-- pages, another instance):
-- `chat`: a chat was opened, reopened, closed, assigned, or has a new last message;
-- `message`: a new message in a chat; `status`: a message in a chat changed status.
CREATE FUNCTION chat_event() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT'
       OR NEW.status IS DISTINCT FROM OLD.status
       OR NEW.assignee_id IS DISTINCT FROM OLD.assignee_id
       OR NEW.last_message_id IS DISTINCT FROM OLD.last_message_id THEN
        PERFORM emit_event(NEW.workspace_id, 'chat', NEW.client_id, NEW.id, NULL,
            jsonb_build_object('chat_id', NEW.id, 'status', NEW.status, 'assignee_id', NEW.assignee_id));
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER chat_event AFTER INSERT OR UPDATE ON chats FOR EACH ROW EXECUTE FUNCTION chat_event();

CREATE FUNCTION chat_message_event() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    chat bigint;
BEGIN
    IF NEW.client_id IS NULL THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'UPDATE' AND NEW.status IS NOT DISTINCT FROM OLD.status THEN
        RETURN NULL;
    END IF;
    SELECT c.id INTO chat FROM chats c
    WHERE c.workspace_id = NEW.workspace_id AND c.client_id = NEW.client_id AND c.channel = NEW.channel;
    IF chat IS NULL THEN
        RETURN NULL;
    END IF;
    PERFORM emit_event(NEW.workspace_id, CASE TG_OP WHEN 'INSERT' THEN 'message' ELSE 'status' END, NEW.client_id, chat, NULL,
        jsonb_build_object('chat_id', chat, 'message_id', NEW.id, 'status', NEW.status, 'direction', NEW.direction));
    RETURN NULL;
END
$$;
-- After chat_on_message (triggers fire in name order), so an inbound message's new chat exists.
CREATE TRIGGER chat_whats_new AFTER INSERT OR UPDATE OF status ON messages FOR EACH ROW EXECUTE FUNCTION chat_message_event();
