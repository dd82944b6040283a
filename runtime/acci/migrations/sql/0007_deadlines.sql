-- ACCI: deadlines, the commands policies schedule for later (acci.policies).
--
-- A policy's runner inserts a deadline in the same transaction as its checkpoint (so each is
-- scheduled once, with an id derived from the policy and the event), and cancels pending ones the
-- same way. A deadline runner sends each when due: it moves the row to 'firing' first (a cancel
-- no longer applies then), sends the command under an id derived from the deadline's (so a runner
-- that dies and a successor that sends it again send it once in effect), then settles the row.

CREATE TABLE acci.deadlines (
    -- uuid5 of the policy, the scheduling event and the effect's place in the reaction.
    id                uuid        PRIMARY KEY,
    tenant_id         text        NOT NULL,
    policy            text        NOT NULL,
    -- The deadline's name within its policy, and the key a cancelling event names.
    name              text        NOT NULL,
    key               text        NOT NULL,
    due_at            timestamptz NOT NULL,
    command_type      text        NOT NULL,
    command           jsonb       NOT NULL,
    -- 'dead_letter', 'ignore' or 'compensate' (with the compensation's type and data).
    on_rejected       text        NOT NULL,
    compensation_type text,
    compensation      jsonb,
    correlation_id    text        NOT NULL,
    -- The event that scheduled it, and the one that cancelled it.
    scheduled_by      uuid        NOT NULL,
    cancelled_by      uuid,
    state             text        NOT NULL DEFAULT 'pending'
                      CHECK (state IN ('pending', 'firing', 'fired', 'cancelled', 'failed')),
    -- How a fired one went: ok, replayed, compensated, ignored; why a failed one failed.
    outcome           text,
    error             text,
    attempts          integer     NOT NULL DEFAULT 0,
    scheduled_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    settled_at        timestamptz
);

-- The runner's question: what is due? An empty index when nothing waits.
CREATE INDEX deadlines_due ON acci.deadlines (policy, due_at) WHERE state IN ('pending', 'firing');
-- A cancelling event's question: which pending deadlines of this name have this key?
CREATE INDEX deadlines_by_key ON acci.deadlines (tenant_id, policy, name, key) WHERE state = 'pending';
