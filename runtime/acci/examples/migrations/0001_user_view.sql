-- The guide's user_view read model, scoped to a tenant.
CREATE TABLE public.user_view (
    tenant_id  text        NOT NULL,
    id         text        NOT NULL,
    email      text        NOT NULL,
    name       text        NOT NULL,
    status     text        NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX user_view_name ON public.user_view (tenant_id, name);
