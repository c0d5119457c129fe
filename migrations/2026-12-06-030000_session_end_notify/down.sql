DROP TRIGGER sessions_announce_end ON sessions;
DROP FUNCTION announce_session_end();
