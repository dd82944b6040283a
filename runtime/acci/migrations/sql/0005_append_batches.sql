-- ACCI event store, schema version 3: exact idempotency, and the appends of many callers in one
-- statement (a PostgresEventStore coalesces concurrent appends into one acci.append_batch call).
--
-- Every append path (acci.append_event, acci.append_events, the COPY path and acci.append_batch)
-- claims its stream and records its command id through acci.claim_append, so the rules below
-- hold alike for all of them.

-- The hash of the command's data (with its type and stream, what tells a repeated command from
-- another command sent under the same id). NULL for commands recorded before, and for appends
-- that name a command id without a hash: then the data is not compared.
ALTER TABLE acci.commands ADD COLUMN command_hash text;

-- The functions of 0001 are replaced by the ones below: each takes the command's hash as a last
-- parameter with a default, so that calls written for 0001 still work.
DROP FUNCTION acci.append_event(text, text, text, bigint, uuid, text, integer, text, text, text, text,
                                text, uuid, text, boolean);
DROP FUNCTION acci.append_events(text, text, text, bigint, uuid[], text[], integer[], text[], text,
                                 text, text, text, uuid, text, boolean);
DROP FUNCTION acci.claim_versions(text, text, text, bigint, bigint, uuid, text);

-- The idempotency rule (the same as CommandRecord.same_command in acci/store/base.py). A command id
-- names one command of a tenant. Seen again with the same command type, stream and data hash it
-- is a repeat: status 2, its first result stands. With another type, stream or hash it is a
-- reuse of the id for another command: status 3, refused. A hash missing on either side (an
-- append that named none, a command recorded before 0003) is not compared.
CREATE FUNCTION acci.command_status(
    c                acci.commands,
    p_command_type   text,
    p_aggregate_type text,
    p_aggregate_id   text,
    p_command_hash   text
) RETURNS smallint
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN c.command_type = coalesce(p_command_type, '')
                     AND c.aggregate_type = p_aggregate_type AND c.aggregate_id = p_aggregate_id
                     AND (c.command_hash IS NULL OR p_command_hash IS NULL
                          OR c.command_hash = p_command_hash)
                THEN 2 ELSE 3 END::smallint
$$;

-- What the caller learns of the first command (JSON): where its result is, or what it was.
CREATE FUNCTION acci.command_detail(c acci.commands) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT json_build_object('command_type', c.command_type, 'aggregate_type', c.aggregate_type,
                             'aggregate_id', c.aggregate_id, 'first_version', c.first_version,
                             'last_version', c.last_version)::text
$$;

-- Whether a command id was recorded: status 0 (no), 2 or 3 (acci.command_status), and its detail.
CREATE FUNCTION acci.seen_command(
    p_tenant_id      text,
    p_command_id     uuid,
    p_command_type   text,
    p_aggregate_type text,
    p_aggregate_id   text,
    p_command_hash   text,
    OUT status       smallint,
    OUT detail       text
)
LANGUAGE plpgsql AS $$
DECLARE
    rec acci.commands%ROWTYPE;
BEGIN
    SELECT * INTO rec FROM acci.commands c
     WHERE c.tenant_id = p_tenant_id AND c.command_id = p_command_id;
    IF NOT FOUND THEN
        status := 0;
        RETURN;
    END IF;
    status := acci.command_status(rec, p_command_type, p_aggregate_type, p_aggregate_id, p_command_hash);
    detail := acci.command_detail(rec);
END;
$$;

-- Undo a successful acci.claim_append inside the same transaction (its rows are still locked by
-- it, so this is exact): used when another part of the same all-or-nothing entry fails, or when
-- the command id turned out to be taken. A base of 0 means the claim created the stream's row.
CREATE FUNCTION acci.unclaim_append(
    p_tenant_id      text,
    p_aggregate_type text,
    p_aggregate_id   text,
    n                bigint,
    base             bigint,
    p_command_id     uuid
) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF p_command_id IS NOT NULL THEN
        DELETE FROM acci.commands c WHERE c.tenant_id = p_tenant_id AND c.command_id = p_command_id;
    END IF;
    IF n > 0 AND base = 0 THEN
        DELETE FROM acci.streams s
         WHERE s.tenant_id = p_tenant_id AND s.aggregate_type = p_aggregate_type
           AND s.aggregate_id = p_aggregate_id;
    ELSIF n > 0 THEN
        UPDATE acci.streams s SET version = base, updated_at = clock_timestamp()
         WHERE s.tenant_id = p_tenant_id AND s.aggregate_type = p_aggregate_type
           AND s.aggregate_id = p_aggregate_id;
    END IF;
END;
$$;

-- Claim n versions of a stream for an append and record its command id, without raising (so that
-- a batch needs no subtransaction per caller: more than 64 of them in one transaction would slow
-- every snapshot on the server). Returns
--   status 0: claimed; version is the stream's version before the append;
--   status 1: version conflict; version is the stream's actual version;
--   status 2 or 3: the command id was seen before (acci.seen_command); detail is its record.
-- The command id is checked before the version (a repeat is answered even though the stream has
-- moved on since), and again after a conflict (under READ COMMITTED the conflicting writer was
-- waited for, so a copy of this very command that won the race is visible now). The stream's row
-- is moved before any global position is taken, so a losing writer burns no position.
CREATE FUNCTION acci.claim_append(
    p_tenant_id        text,
    p_aggregate_type   text,
    p_aggregate_id     text,
    p_expected_version bigint,
    n                  bigint,
    p_command_id       uuid,
    p_command_type     text,
    p_command_hash     text,
    OUT status         smallint,
    OUT version        bigint,
    OUT detail         text
)
LANGUAGE plpgsql AS $$
DECLARE
    base   bigint;
    actual bigint;
BEGIN
    IF p_command_id IS NOT NULL THEN
        SELECT s.status, s.detail INTO status, detail
          FROM acci.seen_command(p_tenant_id, p_command_id, p_command_type, p_aggregate_type,
                                 p_aggregate_id, p_command_hash) s;
        IF status > 0 THEN
            RETURN;
        END IF;
    END IF;
    status := 0;

    IF n = 0 THEN
        SELECT s.version INTO base FROM acci.streams s
         WHERE s.tenant_id = p_tenant_id AND s.aggregate_type = p_aggregate_type
           AND s.aggregate_id = p_aggregate_id;
        base := coalesce(base, 0);
        IF p_expected_version IS NOT NULL AND base <> p_expected_version THEN
            actual := base;
        END IF;
    ELSIF p_expected_version IS NULL THEN
        INSERT INTO acci.streams AS s (tenant_id, aggregate_type, aggregate_id, version)
        VALUES (p_tenant_id, p_aggregate_type, p_aggregate_id, n)
        ON CONFLICT (tenant_id, aggregate_type, aggregate_id)
        DO UPDATE SET version = s.version + n, updated_at = clock_timestamp()
        RETURNING s.version - n INTO base;
    ELSIF p_expected_version = 0 THEN
        INSERT INTO acci.streams (tenant_id, aggregate_type, aggregate_id, version)
        VALUES (p_tenant_id, p_aggregate_type, p_aggregate_id, n)
        ON CONFLICT (tenant_id, aggregate_type, aggregate_id) DO NOTHING;
        IF FOUND THEN
            base := 0;
        ELSE
            SELECT s.version INTO actual FROM acci.streams s
             WHERE s.tenant_id = p_tenant_id AND s.aggregate_type = p_aggregate_type
               AND s.aggregate_id = p_aggregate_id;
            actual := coalesce(actual, 0);
        END IF;
    ELSE
        -- Under READ COMMITTED a concurrent writer's update is waited for, then the condition
        -- is checked again against the committed row: exactly one of them matches.
        UPDATE acci.streams s SET version = s.version + n, updated_at = clock_timestamp()
         WHERE s.tenant_id = p_tenant_id AND s.aggregate_type = p_aggregate_type
           AND s.aggregate_id = p_aggregate_id AND s.version = p_expected_version
        RETURNING s.version - n INTO base;
        IF NOT FOUND THEN
            SELECT s.version INTO actual FROM acci.streams s
             WHERE s.tenant_id = p_tenant_id AND s.aggregate_type = p_aggregate_type
               AND s.aggregate_id = p_aggregate_id;
            actual := coalesce(actual, 0);
        END IF;
    END IF;

    IF actual IS NOT NULL THEN
        IF p_command_id IS NOT NULL THEN
            SELECT s.status, s.detail INTO status, detail
              FROM acci.seen_command(p_tenant_id, p_command_id, p_command_type, p_aggregate_type,
                                     p_aggregate_id, p_command_hash) s;
            IF status > 0 THEN
                RETURN;
            END IF;
        END IF;
        status := 1;
        version := actual;
        RETURN;
    END IF;

    IF p_command_id IS NOT NULL THEN
        -- A copy of this command that committed while we claimed (an ANY append waits for the
        -- row and then succeeds too) shows up here as a conflict on the key.
        INSERT INTO acci.commands (tenant_id, command_id, command_type, aggregate_type, aggregate_id,
                                   first_version, last_version, command_hash)
        VALUES (p_tenant_id, p_command_id, coalesce(p_command_type, ''), p_aggregate_type,
                p_aggregate_id, base + 1, base + n, p_command_hash)
        ON CONFLICT (tenant_id, command_id) DO NOTHING;
        IF NOT FOUND THEN
            PERFORM acci.unclaim_append(p_tenant_id, p_aggregate_type, p_aggregate_id, n, base, NULL);
            SELECT s.status, s.detail INTO status, detail
              FROM acci.seen_command(p_tenant_id, p_command_id, p_command_type, p_aggregate_type,
                                     p_aggregate_id, p_command_hash) s;
            RETURN;
        END IF;
    END IF;
    version := base;
END;
$$;

-- acci.claim_append for a single caller: raises AC001 on a version conflict (DETAIL: the actual
-- version), AC002 on a repeated command and AC003 on a command id reused for another command
-- (DETAIL: the first command, JSON). Returns the version before the append.
CREATE FUNCTION acci.claim_versions(
    p_tenant_id        text,
    p_aggregate_type   text,
    p_aggregate_id     text,
    p_expected_version bigint,
    n                  bigint,
    p_command_id       uuid,
    p_command_type     text,
    p_command_hash     text DEFAULT NULL
) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    claim record;
BEGIN
    SELECT * INTO claim FROM acci.claim_append(p_tenant_id, p_aggregate_type, p_aggregate_id,
                                               p_expected_version, n, p_command_id, p_command_type,
                                               p_command_hash);
    IF claim.status = 1 THEN
        RAISE EXCEPTION USING ERRCODE = 'AC001', MESSAGE = 'concurrency conflict',
            DETAIL = claim.version::text;
    ELSIF claim.status = 2 THEN
        RAISE EXCEPTION USING ERRCODE = 'AC002', MESSAGE = 'duplicate command', DETAIL = claim.detail;
    ELSIF claim.status = 3 THEN
        RAISE EXCEPTION USING ERRCODE = 'AC003', MESSAGE = 'command id reused', DETAIL = claim.detail;
    END IF;
    RETURN claim.version;
END;
$$;

-- Append events to one stream atomically, with an expected version:
--   NULL: any version; 0: the stream must not exist; n >= 1: the stream must be at version n.
CREATE FUNCTION acci.append_events(
    p_tenant_id        text,
    p_aggregate_type   text,
    p_aggregate_id     text,
    p_expected_version bigint,
    p_event_ids        uuid[],
    p_event_types      text[],
    p_schema_versions  integer[],
    p_data             text[],
    p_user_id          text,
    p_correlation_id   text,
    p_causation_id     text,
    p_metadata         text,
    p_command_id       uuid,
    p_command_type     text,
    p_notify           boolean,
    p_command_hash     text DEFAULT NULL
) RETURNS TABLE (out_version bigint, out_transaction_id xid8, out_global_position bigint,
                 out_timestamp timestamptz)
LANGUAGE plpgsql AS $$
DECLARE
    n    bigint := coalesce(cardinality(p_event_ids), 0);
    base bigint := acci.claim_versions(p_tenant_id, p_aggregate_type, p_aggregate_id,
                                       p_expected_version, n, p_command_id, p_command_type,
                                       p_command_hash);
BEGIN
    IF n > 0 THEN
        RETURN QUERY
        INSERT INTO acci.events AS e (id, tenant_id, aggregate_type, aggregate_id, version, event_type,
                                      schema_version, data, user_id, correlation_id, causation_id,
                                      metadata)
        SELECT u.id, p_tenant_id, p_aggregate_type, p_aggregate_id, base + u.ord, u.event_type,
               u.schema_version, u.data::jsonb, p_user_id, p_correlation_id, p_causation_id,
               coalesce(p_metadata, '{}')::jsonb
          FROM unnest(p_event_ids, p_event_types, p_schema_versions, p_data)
               WITH ORDINALITY AS u(id, event_type, schema_version, data, ord)
         ORDER BY u.ord
        RETURNING e.version, e.transaction_id, e.global_position, e."timestamp";
        IF p_notify THEN
            PERFORM acci.notify_appended(p_tenant_id);
        END IF;
    END IF;
END;
$$;

-- One event: scalars instead of arrays, and one VALUES row.
CREATE FUNCTION acci.append_event(
    p_tenant_id        text,
    p_aggregate_type   text,
    p_aggregate_id     text,
    p_expected_version bigint,
    p_event_id         uuid,
    p_event_type       text,
    p_schema_version   integer,
    p_data             text,
    p_user_id          text,
    p_correlation_id   text,
    p_causation_id     text,
    p_metadata         text,
    p_command_id       uuid,
    p_command_type     text,
    p_notify           boolean,
    p_command_hash     text DEFAULT NULL
) RETURNS TABLE (out_version bigint, out_transaction_id xid8, out_global_position bigint,
                 out_timestamp timestamptz)
LANGUAGE plpgsql AS $$
DECLARE
    base bigint := acci.claim_versions(p_tenant_id, p_aggregate_type, p_aggregate_id,
                                       p_expected_version, 1, p_command_id, p_command_type,
                                       p_command_hash);
BEGIN
    RETURN QUERY
    INSERT INTO acci.events AS e (id, tenant_id, aggregate_type, aggregate_id, version, event_type,
                                  schema_version, data, user_id, correlation_id, causation_id, metadata)
    VALUES (p_event_id, p_tenant_id, p_aggregate_type, p_aggregate_id, base + 1, p_event_type,
            p_schema_version, p_data::jsonb, p_user_id, p_correlation_id, p_causation_id,
            coalesce(p_metadata, '{}')::jsonb)
    RETURNING e.version, e.transaction_id, e.global_position, e."timestamp";
    IF p_notify THEN
        PERFORM acci.notify_appended(p_tenant_id);
    END IF;
END;
$$;

-- The appends of many callers in one statement and one transaction. Each caller's append is an
-- entry of one or more parts (a part: one stream, its expected version, its events); an entry's
-- parts are consecutive and all-or-nothing, entries are independent: a conflict or a repeated
-- command fails its entry only, the others commit. Per part: p_entries (the entry, ascending),
-- stream, expected version, p_counts (its events), metadata and command; per event (the parts'
-- events one after another): p_event_parts (the part) and the event's own columns.
--
-- A column whose every value is NULL may be given as NULL instead, and p_entries, p_counts and
-- p_event_parts as NULL when each entry has one part and each part one event: the client's time
-- goes mostly into adapting array parameters, element by element.
--
-- Returns one row per failed part (out_part, out_status 1-3 as in acci.claim_append, out_version,
-- out_detail), one row per appended part (out_status 0, out_version: the version before it), then
-- one row per inserted event in order (out_part NULL; version, transaction id, position, time).
CREATE FUNCTION acci.append_batch(
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
        SELECT * INTO claim FROM acci.claim_append(p_tenant_ids[i], p_aggregate_types[i],
                                                   p_aggregate_ids[i], p_expected[i],
                                                   coalesce(p_counts[i], 1), p_command_ids[i],
                                                   p_command_types[i], p_command_hashes[i]);
        IF claim.status = 0 THEN
            bases[i] := claim.version;
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
