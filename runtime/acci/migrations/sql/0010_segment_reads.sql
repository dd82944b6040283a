-- A segment's batch reads the global order filtered to its streams. Written as an equality on
-- acci.stream_segment (an SQL function, which the planner inlines), the filter is estimated to
-- keep 0.5% of the rows, and the planner then sorts the whole event table for each page: on
-- 100,000 events, 159 ms for a page of 500, against 1.6 ms walking the global-order index, and it
-- grows with the table. A PL/pgSQL function is never inlined, and the planner estimates a boolean
-- function to keep a third of the rows: it walks the index and stops after a page.
CREATE FUNCTION acci.in_segment(tenant_id text, aggregate_type text, aggregate_id text, segments integer,
                                segment integer)
RETURNS boolean
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
AS $$
BEGIN
    RETURN acci.stream_segment(tenant_id, aggregate_type, aggregate_id, segments) = segment;
END
$$;
