-- The ids of a client's tags, in id order, kept on the client's row for the list to show
-- (issue 20): read through the links, each of the page's 50 rows cost an index probe, 154
-- of the page statement's 212 buffers and 60 % of its time. Only for display: the tag filter
-- and the tag counts still read `client_tags`, which stays the truth, so the column needs no
-- index and its writes add no index entries. Written by the statements that write the
-- links (the client form, the bulk actions, the import, the seed). NULL means "not
-- computed": the list then reads the links itself, so a row written without it (SQL by
-- hand) still shows right. A deleted tag's id may stay behind; the page shows only tags
-- that exist.
ALTER TABLE clients ADD COLUMN tag_ids bigint[];

UPDATE clients c SET tag_ids = ARRAY(
  SELECT t.tag_id FROM client_tags t WHERE t.workspace_id = c.workspace_id AND t.client_id = c.id ORDER BY t.tag_id);
