DROP TABLE chat_digests;
