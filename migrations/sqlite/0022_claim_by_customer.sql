-- The dispatcher's claim reads each customer's next few due deliveries instead of ranking
-- every due one: under a backlog of thousands the ranking took milliseconds a claim, inside
-- the write turn, and grew with the backlog it was meant to work off. `customer_id` is the
-- incident's customer, copied so the claim can walk the customers through one index.
ALTER TABLE deliveries ADD COLUMN customer_id TEXT NOT NULL DEFAULT '';
UPDATE deliveries SET customer_id = (SELECT i.customer_id FROM incidents i WHERE i.id = deliveries.incident_id);
CREATE INDEX deliveries_pending_by_customer ON deliveries (customer_id, first_page DESC, due_at, id)
    WHERE state = 'pending';
DROP INDEX deliveries_claim_order;
