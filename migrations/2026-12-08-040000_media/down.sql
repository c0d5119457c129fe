DROP TRIGGER media_event ON media;
DROP FUNCTION media_event();
DROP TABLE media_chunks;
DROP TABLE media;
