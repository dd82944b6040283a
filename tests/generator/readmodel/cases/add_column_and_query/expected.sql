-- golden

-- add column customer_list.city
ALTER TABLE public.customer_list ADD COLUMN city text;

-- index customer_list_by_name
CREATE INDEX customer_list_by_name ON public.customer_list (tenant_id, name, customer_id);

-- index customer_list_city
CREATE INDEX customer_list_city ON public.customer_list (tenant_id, city);
