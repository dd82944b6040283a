-- ACCI event store, schema version 1: events, streams, snapshots, command log, projection
-- checkpoints and dead letters, and the append functions that enforce optimistic concurrency.

CREATE TABLE acci.streams (
    tenant_id       text        NOT NULL,
    aggregate_type  text        NOT NULL,
    aggregate_id    text        NOT NULL,
    version         bigint      NOT NULL CHECK (version >= 1),
    created_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (tenant_id, aggregate_type, aggregate_id)
);

CREATE TABLE acci.events (
    -- Position in the global order. Positions are taken in insert order, not commit order: readers
    -- of the global order must order by (transaction_id, global_position) below the horizon.
    global_position bigint      GENERATED ALWAYS AS IDENTITY,
    transaction_id  xid8        NOT NULL DEFAULT pg_current_xact_id(),
    id              uuid        NOT NULL,
    tenant_id       text        NOT NULL,
    aggregate_type  text        NOT NULL,
    aggregate_id    text        NOT NULL,
    version         bigint      NOT NULL CHECK (version >= 1),
    event_type      text        NOT NULL,
    schema_version  integer     NOT NULL CHECK (schema_version >= 1),
    data            jsonb       NOT NULL,
    user_id         text,
    correlation_id  text        NOT NULL,
    causation_id    text,
    metadata        jsonb       NOT NULL DEFAULT '{}',
    -- clock_timestamp(), not now(): now() is the start of the transaction.
    "timestamp"     timestamptz NOT NULL DEFAULT clock_timestamp(),
    -- The backstop of optimistic concurrency: one event per stream version.
    PRIMARY KEY (tenant_id, aggregate_type, aggregate_id, version),
    UNIQUE (id)
);

-- Readers of the global order, all types and filtered by type.
CREATE INDEX events_global_order ON acci.events (transaction_id, global_position);
CREATE INDEX events_by_type ON acci.events (event_type, transaction_id, global_position);
-- The guide's timestamp index (health checks, "as of" scans).
CREATE INDEX events_by_timestamp ON acci.events ("timestamp");

CREATE TABLE acci.snapshots (
    tenant_id      text        NOT NULL,
    aggregate_type text        NOT NULL,
    aggregate_id   text        NOT NULL,
    version        bigint      NOT NULL CHECK (version >= 1),
    state          jsonb       NOT NULL,
    -- Hash of the state schema the snapshot was written with; a reader with another hash ignores it.
    schema_hash    text        NOT NULL,
    -- Timestamp of the event at `version`, so that reads "as of" a time can use the snapshot.
    event_timestamp timestamptz NOT NULL,
    "timestamp"    timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (tenant_id, aggregate_type, aggregate_id)
);

CREATE TABLE acci.commands (
    tenant_id      text        NOT NULL,
    command_id     uuid        NOT NULL,
    command_type   text        NOT NULL,
    aggregate_type text        NOT NULL,
    aggregate_id   text        NOT NULL,
    -- The events the command produced are versions first_version..last_version of its stream
    -- (none when last_version < first_version).
    first_version  bigint      NOT NULL,
    last_version   bigint      NOT NULL,
    recorded_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (tenant_id, command_id)
);

CREATE TABLE acci.checkpoints (
    name            text        PRIMARY KEY,
    transaction_id  xid8        NOT NULL DEFAULT '0',
    global_position bigint      NOT NULL DEFAULT 0,
    status          text        NOT NULL DEFAULT 'running',
    owner           text,
    heartbeat_at    timestamptz,
    updated_at      timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE TABLE acci.dead_letters (
    id              bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    projection      text        NOT NULL,
    event_id        uuid        NOT NULL,
    transaction_id  xid8        NOT NULL,
    global_position bigint      NOT NULL,
    event_type      text        NOT NULL,
    error           text        NOT NULL,
    attempts        integer     NOT NULL,
    first_failed_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    last_failed_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    resolved_at     timestamptz,
    UNIQUE (projection, event_id)
);

-- Check the expected version and move the stream's version row by n (before any position is
-- taken), and record the command id. Returns the version before the append. Raises AC001 on a
-- version conflict (DETAIL: the actual version) and AC002 on a command id seen before.
CREATE FUNCTION acci.claim_versions(
    p_tenant_id        text,
    p_aggregate_type   text,
    p_aggregate_id     text,
    p_expected_version bigint,
    n                  bigint,
    p_command_id       uuid,
    p_command_type     text
) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    base   bigint;
    actual bigint;
BEGIN
    IF n = 0 THEN
        SELECT s.version INTO base FROM acci.streams s
         WHERE s.tenant_id = p_tenant_id AND s.aggregate_type = p_aggregate_type
           AND s.aggregate_id = p_aggregate_id;
        base := coalesce(base, 0);
        IF p_expected_version IS NOT NULL AND base <> p_expected_version THEN
            RAISE EXCEPTION USING ERRCODE = 'AC001', MESSAGE = 'concurrency conflict', DETAIL = base::text;
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
        IF NOT FOUND THEN
            SELECT s.version INTO actual FROM acci.streams s
             WHERE s.tenant_id = p_tenant_id AND s.aggregate_type = p_aggregate_type
               AND s.aggregate_id = p_aggregate_id;
            RAISE EXCEPTION USING ERRCODE = 'AC001', MESSAGE = 'concurrency conflict',
                DETAIL = coalesce(actual, 0)::text;
        END IF;
        base := 0;
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
            RAISE EXCEPTION USING ERRCODE = 'AC001', MESSAGE = 'concurrency conflict',
                DETAIL = coalesce(actual, 0)::text;
        END IF;
    END IF;

    IF p_command_id IS NOT NULL THEN
        INSERT INTO acci.commands (tenant_id, command_id, command_type, aggregate_type, aggregate_id,
                                   first_version, last_version)
        VALUES (p_tenant_id, p_command_id, p_command_type, p_aggregate_type, p_aggregate_id,
                base + 1, base + n)
        ON CONFLICT (tenant_id, command_id) DO NOTHING;
        IF NOT FOUND THEN
            RAISE EXCEPTION USING ERRCODE = 'AC002', MESSAGE = 'duplicate command',
                DETAIL = p_command_id::text;
        END IF;
    END IF;
    RETURN base;
END;
$$;

-- A wake-up hint for subscribers, who poll as well. A notifying commit holds a cluster-wide lock
-- while it flushes, which would serialize concurrent writers, so each session notifies at most
-- once per 20 ms; a busy stream still wakes readers promptly.
CREATE FUNCTION acci.notify_appended(p_tenant_id text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF clock_timestamp() - coalesce(
           nullif(current_setting('acci.notified_at', true), '')::timestamptz, 'epoch')
         > interval '20 milliseconds' THEN
        PERFORM pg_notify('acci_events', p_tenant_id);
        PERFORM set_config('acci.notified_at', clock_timestamp()::text, false);
    END IF;
END;
$$;

-- Append events to one stream atomically, with an expected version:
--   NULL: any version; 0: the stream must not exist; n >= 1: the stream must be at version n.
-- The version is claimed (acci.claim_versions) before any position is taken from the sequence,
-- so a losing writer writes nothing and burns no position.
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
    p_notify           boolean
) RETURNS TABLE (out_version bigint, out_transaction_id xid8, out_global_position bigint,
                 out_timestamp timestamptz)
LANGUAGE plpgsql AS $$
DECLARE
    n    bigint := coalesce(cardinality(p_event_ids), 0);
    base bigint := acci.claim_versions(p_tenant_id, p_aggregate_type, p_aggregate_id,
                                       p_expected_version, n, p_command_id, p_command_type);
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
    p_notify           boolean
) RETURNS TABLE (out_version bigint, out_transaction_id xid8, out_global_position bigint,
                 out_timestamp timestamptz)
LANGUAGE plpgsql AS $$
DECLARE
    base bigint := acci.claim_versions(p_tenant_id, p_aggregate_type, p_aggregate_id,
                                       p_expected_version, 1, p_command_id, p_command_type);
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
