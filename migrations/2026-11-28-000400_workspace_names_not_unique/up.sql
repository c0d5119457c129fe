-- Workspace names are labels, not keys. A unique index made renaming a workspace tell its
-- admin whether another tenant already used the name; lookups by name (the command line)
-- keep a plain index and refuse a name that several workspaces share.
DROP INDEX workspaces_name_key;
CREATE INDEX workspaces_name_idx ON workspaces (lower(name));
