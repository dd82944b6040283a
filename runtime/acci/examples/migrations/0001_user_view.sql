-- The guide's user_view read model, scoped to a tenant. In a schema of its own, so that it
-- never meets the user_view that acci-gen generates from domains/identity.yaml.
CREATE SCHEMA examples;
CREATE TABLE examples.user_view (
    tenant_id  text        NOT NULL,
    id         text        NOT NULL,
    email      text        NOT NULL,
    name       text        NOT NULL,
    status     text        NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX user_view_name ON examples.user_view (tenant_id, name);
