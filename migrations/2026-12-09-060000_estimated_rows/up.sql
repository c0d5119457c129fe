-- The planner's estimate of the rows a query returns, read from EXPLAIN (nothing is read
-- from the tables): the inbox's message-text search asks it whether a term is common
-- (issue 22 part 7). The caller builds `query` with format('%L') for every value.
CREATE FUNCTION estimated_rows(query text) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    plan json;
BEGIN
    EXECUTE 'EXPLAIN (FORMAT JSON) ' || query INTO plan;
    RETURN (plan -> 0 -> 'Plan' ->> 'Plan Rows')::numeric::bigint;
END
$$;
