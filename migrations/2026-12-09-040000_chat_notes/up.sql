-- Internal notes in a conversation (issue 22 part 4): written by a person, never sent, shown
-- among the chat's messages; `mentions` the users an `@name` in it notified.
CREATE TABLE chat_notes (
    workspace_id bigint NOT NULL REFERENCES workspaces (id),
    id           bigint GENERATED ALWAYS AS IDENTITY,
    chat_id      bigint NOT NULL,
    author_id    bigint,
    body         text NOT NULL CHECK (length(body) BETWEEN 1 AND 4096),
    mentions     bigint[] NOT NULL DEFAULT '{}',
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, id),
    FOREIGN KEY (workspace_id, chat_id) REFERENCES chats (workspace_id, id) ON DELETE CASCADE,
    FOREIGN KEY (workspace_id, author_id) REFERENCES users (workspace_id, id)
);
CREATE INDEX chat_notes_chat_idx ON chat_notes (workspace_id, chat_id, created_at, id);

-- A new note reaches every open page of its conversation (`chat-<id>`), like a message.
CREATE FUNCTION chat_note_event() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    client bigint;
BEGIN
    SELECT c.client_id INTO client FROM chats c WHERE c.workspace_id = NEW.workspace_id AND c.id = NEW.chat_id;
    PERFORM emit_event(NEW.workspace_id, 'note', client, NEW.chat_id, NULL, jsonb_build_object('chat_id', NEW.chat_id, 'note_id', NEW.id));
    RETURN NULL;
END
$$;
CREATE TRIGGER chat_note_event AFTER INSERT ON chat_notes FOR EACH ROW EXECUTE FUNCTION chat_note_event();
