-- Nobody left unpaged. `first_page` marks the deliveries of an incident's first paging, which
-- the dispatcher claims ahead of any backlog (and round-robin across customers), so one
-- customer's flood cannot delay another customer's first page.
ALTER TABLE deliveries ADD COLUMN first_page BIGINT NOT NULL DEFAULT 0;
CREATE INDEX deliveries_claim_order ON deliveries (state, first_page, due_at);
-- The flood guard counts a customer's recently opened incidents that are still open.
CREATE INDEX incidents_customer_open ON incidents (customer_id, state, created_at);
