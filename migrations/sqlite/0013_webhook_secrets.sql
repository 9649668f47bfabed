-- Endpoint secrets are kept sealed (encrypted under the key-encryption key, see
-- src/secret_box.rs) from now on. The column is renamed so its name says so, and so a binary
-- from before sealing fails loudly on it instead of signing with the sealed text. Rows written
-- by earlier versions still hold plain text here: the gateway seals them when it starts, as
-- SQL has no key to do it with.
ALTER TABLE webhook_endpoints RENAME COLUMN secret TO sealed_secret;
