DROP TABLE media_chunks;
DROP TABLE media;
