DROP TABLE follow_ups;
DROP TABLE communications;
DROP TABLE client_tags;
DROP TABLE tags;
DROP TABLE client_departments;
DROP TABLE clients;
ALTER TABLE workspaces DROP COLUMN default_country;
