-- Enrollment codes are stored as an HMAC-SHA256 under a server key derived from the signing
-- secret instead of a plain SHA-256 (50-bit codes are too few to hide behind an unkeyed hash),
-- and an admin can revoke one. Codes issued before this step hold a plain digest that no
-- longer verifies: outstanding ones are marked revoked here, so the code list says so instead
-- of enrollment failing without a reason. Codes live hours; an admin issues new ones.
ALTER TABLE enrollment_codes ADD COLUMN revoked_at BIGINT;
UPDATE enrollment_codes SET revoked_at = CAST(strftime('%s', 'now') AS INTEGER) * 1000
    WHERE used_at IS NULL;
-- The admin list shows codes that have not expired yet.
CREATE INDEX enrollment_codes_expiry ON enrollment_codes (expires_at);
