-- golden

-- drop index customer_list_by_name
DROP INDEX public.customer_list_by_name;

-- drop index customer_list_name_trgm
DROP INDEX public.customer_list_name_trgm;
