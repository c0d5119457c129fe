-- Conversation search (issue 22 part 7): the inbox's `q` also matches the text of the chats'
-- messages, `lower(body) LIKE '%term%'` through a trigram index (pg_trgm is on since the
-- clients' search). Only messages of a client belong to a chat.
CREATE INDEX messages_body_trgm_idx ON messages USING gin (lower(body) gin_trgm_ops) WHERE client_id IS NOT NULL;
