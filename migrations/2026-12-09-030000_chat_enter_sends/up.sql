-- Issue 22 part 8: in the chat composer Enter sends and Shift+Enter adds a line; a person
-- who prefers the reverse (Enter adds a line, Ctrl+Enter sends) says so on /account.
ALTER TABLE users ADD COLUMN chat_enter_sends boolean NOT NULL DEFAULT true;
