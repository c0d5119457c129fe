ALTER TABLE users DROP COLUMN chat_enter_sends;
