-- Dead letters keep the stream of their event, so that a projection holds back the later events
-- of a stream behind a parked one (per-stream order: an update-style read model never sees an
-- older event after a newer one) while other streams go on, and a replay applies them in order.

ALTER TABLE acci.dead_letters
    ADD COLUMN tenant_id       text,
    ADD COLUMN aggregate_type  text,
    ADD COLUMN aggregate_id    text,
    -- Set when the event was not tried: it waits behind this earlier parked event of its stream.
    ADD COLUMN behind_event_id uuid;

UPDATE acci.dead_letters AS d
   SET tenant_id = e.tenant_id, aggregate_type = e.aggregate_type, aggregate_id = e.aggregate_id
  FROM acci.events AS e
 WHERE e.id = d.event_id;

ALTER TABLE acci.dead_letters
    ALTER COLUMN tenant_id SET NOT NULL,
    ALTER COLUMN aggregate_type SET NOT NULL,
    ALTER COLUMN aggregate_id SET NOT NULL;

-- Each batch of a runner asks which of its streams are held back: an empty index when all is well.
CREATE INDEX dead_letters_unresolved_streams
    ON acci.dead_letters (projection, tenant_id, aggregate_type, aggregate_id, transaction_id, global_position)
 WHERE resolved_at IS NULL;
