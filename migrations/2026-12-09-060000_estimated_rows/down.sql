DROP FUNCTION estimated_rows(text);
