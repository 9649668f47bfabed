-- Admin keys get scopes (space-separated, as OAuth writes them), an optional expiry and the
-- time of their last use. Keys that exist already keep what they could do: every scope.
ALTER TABLE admin_keys ADD COLUMN scopes TEXT NOT NULL DEFAULT 'admin';
ALTER TABLE admin_keys ADD COLUMN expires_at BIGINT;
ALTER TABLE admin_keys ADD COLUMN last_used_at BIGINT;
