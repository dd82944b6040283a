-- Integration messages a consumer kept failing on (acci.integration): kept with their subject,
-- headers and payload, so that they can be replayed without the message broker. The relay needs
-- no table of its own: its position is a row in acci.checkpoints ("relay:<domain>").
CREATE TABLE acci.integration_dead_letters (
    id              bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    consumer        text        NOT NULL,
    message_id      text        NOT NULL,
    subject         text        NOT NULL,
    -- The message's sequence in its broker stream (JetStream), for the operator.
    sequence        bigint      NOT NULL,
    -- The stream of origin (tenant/aggregate type/aggregate id): later messages of the same origin
    -- are parked behind an unresolved letter, so that a replay keeps their order.
    origin          text        NOT NULL,
    event_type      text        NOT NULL,
    schema_version  integer     NOT NULL,
    headers         jsonb       NOT NULL,
    data            bytea       NOT NULL,
    error           text        NOT NULL,
    attempts        integer     NOT NULL,
    first_failed_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    last_failed_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    resolved_at     timestamptz,
    UNIQUE (consumer, message_id)
);

CREATE INDEX integration_dead_letters_unresolved
    ON acci.integration_dead_letters (consumer, origin) WHERE resolved_at IS NULL;
