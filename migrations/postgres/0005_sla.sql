-- SLA tracking per incident: pre-breach warnings sent, and when each target was breached.
ALTER TABLE incidents ADD COLUMN sla_warnings BIGINT NOT NULL DEFAULT 0;
ALTER TABLE incidents ADD COLUMN internal_breached_at BIGINT;
ALTER TABLE incidents ADD COLUMN external_breached_at BIGINT;

CREATE INDEX incidents_open_sla ON incidents (state, respond_due_at);
