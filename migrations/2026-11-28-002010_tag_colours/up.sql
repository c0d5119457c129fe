-- A tag's colour, one name of a small fixed palette (the stylesheet maps names to colours;
-- no CSS is ever stored).
ALTER TABLE tags ADD COLUMN colour TEXT NOT NULL DEFAULT 'grey'
    CHECK (colour IN ('grey', 'red', 'orange', 'yellow', 'green', 'teal', 'blue', 'purple'));
