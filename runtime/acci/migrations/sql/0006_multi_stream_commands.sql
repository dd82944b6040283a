-- ACCI event store: atomic appends to several streams (EventStore.append_many), each with its own
-- expected version, all or nothing, and their command recorded once.
--
-- Such an append is one entry of acci.append_batch with one part per stream (0005 already takes
-- them). The client sorts the parts into lock order (tenant, aggregate type, aggregate id) and
-- names the command on the first part only: its claim checks and records the command id as for
-- any append, and the other parts' versions are added to the command's row once every part of
-- the entry has been claimed. A repeat of the command is answered by the first part's claim,
-- before any stream is touched.

-- The further streams of a command appended to several at once:
-- [{"aggregate_type", "aggregate_id", "first_version", "last_version"}, ...] in lock order.
-- NULL for a command of one stream.
ALTER TABLE acci.commands ADD COLUMN other_streams jsonb;

-- What the caller learns of the first command (JSON), now with its further streams.
CREATE OR REPLACE FUNCTION acci.command_detail(c acci.commands) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT json_build_object('command_type', c.command_type, 'aggregate_type', c.aggregate_type,
                             'aggregate_id', c.aggregate_id, 'first_version', c.first_version,
                             'last_version', c.last_version, 'other_streams', c.other_streams)::text
$$;

-- acci.append_batch of 0005 (the same signature and answers), with two additions for entries of
-- several parts:
--   * a part that appends no events but names an expected version (the decision read that stream
--     and emitted nothing for it) takes the stream's row FOR SHARE before its check, so that no
--     writer can move the stream between the check and the commit; a part with events moves the
--     row, which locks it anyway;
--   * once an entry's parts are all claimed, the versions of its further parts are added to the
--     command recorded by its first part (before the next entry is claimed: a copy of the same
--     command there finds the whole record).
CREATE OR REPLACE FUNCTION acci.append_batch(
    p_entries          integer[],
    p_tenant_ids       text[],
    p_aggregate_types  text[],
    p_aggregate_ids    text[],
    p_expected         bigint[],
    p_counts           integer[],
    p_user_ids         text[],
    p_correlation_ids  text[],
    p_causation_ids    text[],
    p_metadata         text[],
    p_command_ids      uuid[],
    p_command_types    text[],
    p_command_hashes   text[],
    p_event_parts      integer[],
    p_event_ids        uuid[],
    p_event_types      text[],
    p_schema_versions  integer[],
    p_data             text[],
    p_notify           boolean
) RETURNS TABLE (out_part integer, out_status smallint, out_version bigint, out_transaction_id xid8,
                 out_global_position bigint, out_timestamp timestamptz, out_detail text)
LANGUAGE plpgsql AS $$
DECLARE
    parts        integer := coalesce(cardinality(p_tenant_ids), 0);
    bases        bigint[] := '{}';
    -- The index of each part's first event, minus one.
    starts       bigint[] := '{}';
    total        bigint := 0;
    entry_start  integer := 1;
    failed_entry integer;
    tenant       text;
    claim        record;
BEGIN
    FOR i IN 1 .. parts LOOP
        starts[i] := total;
        total := total + coalesce(p_counts[i], 1);
        IF i = 1 OR coalesce(p_entries[i] <> p_entries[i - 1], true) THEN
            entry_start := i;
        END IF;
        CONTINUE WHEN coalesce(p_entries[i], i) = failed_entry;
        IF p_counts[i] = 0 AND p_expected[i] IS NOT NULL
           AND (i > entry_start OR coalesce(p_entries[i] = p_entries[i + 1], false)) THEN
            PERFORM FROM acci.streams s
             WHERE s.tenant_id = p_tenant_ids[i] AND s.aggregate_type = p_aggregate_types[i]
               AND s.aggregate_id = p_aggregate_ids[i]
               FOR SHARE;
        END IF;
        SELECT * INTO claim FROM acci.claim_append(p_tenant_ids[i], p_aggregate_types[i],
                                                   p_aggregate_ids[i], p_expected[i],
                                                   coalesce(p_counts[i], 1), p_command_ids[i],
                                                   p_command_types[i], p_command_hashes[i]);
        IF claim.status = 0 THEN
            bases[i] := claim.version;
            -- The entry's last part claimed: its command's record gets the further streams now,
            -- so that a copy of the command later in this batch is answered with all of them.
            IF i > entry_start AND p_command_ids[entry_start] IS NOT NULL
               AND (i = parts OR p_entries[i + 1] <> p_entries[i]) THEN
                UPDATE acci.commands c
                   SET other_streams = (
                       SELECT jsonb_agg(jsonb_build_object(
                                  'aggregate_type', p_aggregate_types[j], 'aggregate_id', p_aggregate_ids[j],
                                  'first_version', bases[j] + 1,
                                  'last_version', bases[j] + coalesce(p_counts[j], 1)) ORDER BY j)
                         FROM generate_series(entry_start + 1, i) AS j)
                 WHERE c.tenant_id = p_tenant_ids[entry_start]
                   AND c.command_id = p_command_ids[entry_start];
            END IF;
            CONTINUE;
        END IF;
        -- The entry fails: undo what its earlier parts claimed, newest first.
        FOR j IN REVERSE i - 1 .. entry_start LOOP
            PERFORM acci.unclaim_append(p_tenant_ids[j], p_aggregate_types[j], p_aggregate_ids[j],
                                        coalesce(p_counts[j], 1), bases[j], p_command_ids[j]);
            bases[j] := NULL;
        END LOOP;
        failed_entry := coalesce(p_entries[i], i);
        out_part := i;
        out_status := claim.status;
        out_version := claim.version;
        out_detail := claim.detail;
        RETURN NEXT;
    END LOOP;

    out_status := 0;
    out_detail := NULL;
    FOR i IN 1 .. parts LOOP
        IF bases[i] IS NOT NULL THEN
            out_part := i;
            out_version := bases[i];
            RETURN NEXT;
            IF coalesce(p_counts[i], 1) > 0 THEN
                tenant := coalesce(tenant, p_tenant_ids[i]);
            END IF;
        END IF;
    END LOOP;

    IF tenant IS NOT NULL THEN
        RETURN QUERY
        INSERT INTO acci.events AS e (id, tenant_id, aggregate_type, aggregate_id, version, event_type,
                                      schema_version, data, user_id, correlation_id, causation_id,
                                      metadata)
        SELECT u.id, p_tenant_ids[u.part], p_aggregate_types[u.part], p_aggregate_ids[u.part],
               bases[u.part] + (u.ord - starts[u.part]), u.event_type, u.schema_version, u.data::jsonb,
               p_user_ids[u.part], p_correlation_ids[u.part], p_causation_ids[u.part],
               coalesce(p_metadata[u.part], '{}')::jsonb
          FROM (SELECT coalesce(p_event_parts[x.ord::integer], x.ord::integer) AS part, x.*
                  FROM unnest(p_event_ids, p_event_types, p_schema_versions, p_data)
                       WITH ORDINALITY AS x(id, event_type, schema_version, data, ord)) AS u
         WHERE bases[u.part] IS NOT NULL
         ORDER BY u.ord
        RETURNING NULL::integer, 0::smallint, e.version, e.transaction_id, e.global_position,
                  e."timestamp", NULL::text;
        IF p_notify THEN
            PERFORM acci.notify_appended(tenant);
        END IF;
    END IF;
END;
$$;
