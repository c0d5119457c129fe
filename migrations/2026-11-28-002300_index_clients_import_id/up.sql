-- The client list's ?import=ID filter (issue 10 item 14): the clients one import created.
-- Partial: most clients were typed in and have no import.
CREATE INDEX clients_import_idx ON clients (workspace_id, import_id) WHERE import_id IS NOT NULL;
