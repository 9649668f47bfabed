-- PostgreSQL's tables took native types (timestamptz, uuid, jsonb) in this step. SQLite has
-- none of them: instants stay INTEGER milliseconds, ids and JSON stay TEXT. Nothing changes.
SELECT 1;
