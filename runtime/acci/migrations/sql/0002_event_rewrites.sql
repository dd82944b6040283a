-- Events rewritten into their current schema version by `acci events upgrade` keep their
-- original data here, so that the rewrite can be audited or undone.
CREATE TABLE acci.event_rewrites (
    event_id        uuid        NOT NULL,
    schema_version  integer     NOT NULL,
    data            jsonb       NOT NULL,
    rewritten_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (event_id, schema_version)
);
