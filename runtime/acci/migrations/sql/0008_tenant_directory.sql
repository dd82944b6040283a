-- ACCI: tenants across databases (acci.tenants).
--
-- The directory says which database holds a tenant; it lives in the control database (the
-- service's ACCI_DATABASE_URL) and overrides the routes of the settings. `state` is 'moving'
-- while `acci tenants move` copies the tenant: writers wait and retry.
CREATE TABLE acci.tenant_directory (
    tenant_id  text        PRIMARY KEY,
    database   text        NOT NULL,
    state      text        NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'moving')),
    updated_at timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- In every database: the tenants that have moved away from it. Once a tenant is listed, an
-- append for it fails (AC010, DETAIL: the tenant), so that a writer that still routes by an old
-- directory entry retries instead of writing where nobody reads.
CREATE TABLE acci.tenants_moved_away (
    tenant_id text        PRIMARY KEY,
    moved_to  text        NOT NULL,
    moved_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- The check, as a statement trigger over the inserted rows. A move creates the trigger on the
-- database it moves a tenant away from (acci.tenants.moves): a database no tenant ever left pays
-- nothing for it on its appends.
CREATE FUNCTION acci.refuse_moved_tenants() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    moved text;
BEGIN
    SELECT m.tenant_id INTO moved
      FROM acci.tenants_moved_away AS m
     WHERE m.tenant_id IN (SELECT DISTINCT n.tenant_id FROM appended AS n)
     LIMIT 1;
    IF moved IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'AC010', MESSAGE = 'tenant moved', DETAIL = moved;
    END IF;
    RETURN NULL;
END
$$;
