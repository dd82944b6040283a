-- Reserved: migration 0008 belongs to the branch that adds the tenant directory (issue 17,
-- replicas and tenants). This placeholder only keeps the numbers without a gap on the segments
-- branch; when both branches meet, that branch's 0008 replaces this file.
SELECT 1;
