-- Fails while two workspaces share a name: rename one first.
DROP INDEX workspaces_name_idx;
CREATE UNIQUE INDEX workspaces_name_key ON workspaces (lower(name));
