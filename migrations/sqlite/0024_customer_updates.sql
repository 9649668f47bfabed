-- An acknowledgement or a resolution records the customer's update ("someone is on it") as
-- one row in its own transaction; fanning it out to every device of the customer's contacts
-- is a transaction of its own after the answer (src/store/customer_updates.rs). A row whose
-- fanned_out_at is still empty is fanned out by the escalator's round.
CREATE TABLE customer_updates (
    id TEXT PRIMARY KEY,
    incident_id TEXT NOT NULL REFERENCES incidents (id),
    customer_id TEXT NOT NULL,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    fanned_out_at INTEGER
);
CREATE INDEX customer_updates_pending ON customer_updates (created_at, id)
    WHERE fanned_out_at IS NULL;
