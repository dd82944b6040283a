"""PostgreSQL's reserved key words (pg_get_keywords() catcode R or T), by major version.

Written by `python -m acci_gen.pg_keywords_capture URL...`; do not edit by hand.
"""

_POSTGRESQL_15 = """
all analyse analyze and any array as asc asymmetric authorization binary both case cast check
collate collation column concurrently constraint create cross current_catalog current_date
current_role current_schema current_time current_timestamp current_user default deferrable desc
distinct do else end except false fetch for foreign freeze from full grant group having ilike in
initially inner intersect into is isnull join lateral leading left like limit localtime
localtimestamp natural not notnull null offset on only or order outer overlaps placing primary
references returning right select session_user similar some symmetric table tablesample then to
trailing true union unique user using variadic verbose when where window with
"""

_POSTGRESQL_18 = """
all analyse analyze and any array as asc asymmetric authorization binary both case cast check
collate collation column concurrently constraint create cross current_catalog current_date
current_role current_schema current_time current_timestamp current_user default deferrable desc
distinct do else end except false fetch for foreign freeze from full grant group having ilike in
initially inner intersect into is isnull join lateral leading left like limit localtime
localtimestamp natural not notnull null offset on only or order outer overlaps placing primary
references returning right select session_user similar some symmetric system_user table tablesample
then to trailing true union unique user using variadic verbose when where window with
"""

RESERVED_BY_VERSION: dict[int, frozenset[str]] = {
    15: frozenset(_POSTGRESQL_15.split()),
    18: frozenset(_POSTGRESQL_18.split()),
}

#: Reserved in any of the versions: a name must work on every server ACCI supports.
RESERVED: frozenset[str] = frozenset().union(*RESERVED_BY_VERSION.values())
