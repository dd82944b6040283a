-- golden

-- trigram indexes need pg_trgm, and btree_gin to hold tenant_id
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE EXTENSION IF NOT EXISTS btree_gin;

-- create table customer_list
CREATE TABLE public.customer_list (
    tenant_id text NOT NULL,
    customer_id uuid NOT NULL,
    name text NOT NULL,
    PRIMARY KEY (tenant_id, customer_id)
);

-- index customer_list_by_name
CREATE INDEX customer_list_by_name ON public.customer_list (tenant_id, name, customer_id);

-- index customer_list_name_trgm
CREATE INDEX customer_list_name_trgm ON public.customer_list USING gin (tenant_id, name gin_trgm_ops);
