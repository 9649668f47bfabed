-- The zero-config development signing key moved out of the database into a 0600 file beside
-- the SQLite database: a copied database or backup must not carry a key that signs tokens.
-- Tokens it signed carry no `kid` and are refused anyway; devices refresh and carry on.
DELETE FROM gateway_settings WHERE key = 'auth.dev_jwt_secret';
