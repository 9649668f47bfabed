-- A claim reads back the rows it leased by its lease token; without an index that read scans
-- every delivery ever made (the benchmark saw claims slow down as the table grew). Partial:
-- only leased rows are indexed, and recording an outcome clears the lease.
CREATE INDEX deliveries_lease ON deliveries (lease_owner) WHERE lease_owner IS NOT NULL;
CREATE INDEX webhook_deliveries_lease ON webhook_deliveries (lease_owner) WHERE lease_owner IS NOT NULL;
-- Joining a press to the open incident of its referenced ticket.
CREATE INDEX incidents_ticket ON incidents (ticket_id);
