DROP TABLE message_resends;
