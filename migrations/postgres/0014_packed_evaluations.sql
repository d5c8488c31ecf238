-- A policy evaluation's input and details, LZ4-packed (src/storage/packed_text.h). Rows written
-- from this version on leave the text columns empty and fill these; older rows keep their text
-- and NULL here, and read as before.
ALTER TABLE policy_evaluations ADD COLUMN input_packed BYTEA;
ALTER TABLE policy_evaluations ADD COLUMN details_packed BYTEA;
