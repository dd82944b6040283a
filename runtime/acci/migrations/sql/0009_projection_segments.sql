-- Projections split into segments (issue 17). A segment of a projection owns the streams whose
-- hash falls into it (acci.stream_segment) and has its own checkpoint row, its own locks and its
-- own dead letters (those of its streams). Segment 0 of 1 is an unsegmented projection, so every
-- existing checkpoint stays valid as it is.

ALTER TABLE acci.checkpoints
    ADD COLUMN segment  integer NOT NULL DEFAULT 0,
    ADD COLUMN segments integer NOT NULL DEFAULT 1;
ALTER TABLE acci.checkpoints DROP CONSTRAINT checkpoints_pkey;
ALTER TABLE acci.checkpoints ADD PRIMARY KEY (name, segment);
ALTER TABLE acci.checkpoints
    ADD CONSTRAINT checkpoints_segment_in_split CHECK (segments >= 1 AND segment >= 0 AND segment < segments);

-- How each projection is split, recorded so that every process agrees and a re-split is checked:
-- its runners compare it with the split their batch works for, under the projection's lock.
CREATE TABLE acci.projection_splits (
    name        text        PRIMARY KEY,
    segments    integer     NOT NULL CHECK (segments BETWEEN 1 AND 1024),
    -- Set while a re-split drives every segment to the same position: live runners pause.
    resplitting boolean     NOT NULL DEFAULT false,
    changed_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- The segment of a stream among `segments`: a stable 64-bit hash of the stream's three parts
-- (hashtextextended is stable across platforms and upgrades: hash partitioning relies on it),
-- its sign bit cleared, modulo the count. Splitting N into a multiple of N keeps each new
-- segment's streams inside one old segment.
CREATE FUNCTION acci.stream_segment(tenant_id text, aggregate_type text, aggregate_id text, segments integer)
RETURNS integer
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$
    SELECT ((hashtextextended(aggregate_id, hashtextextended(aggregate_type, hashtextextended(tenant_id, 0)))
             & 9223372036854775807) % segments)::integer
$$;
