DROP TABLE chat_notes;
DROP FUNCTION chat_note_event();
