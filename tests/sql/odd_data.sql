-- Deterministic data for odd_schema.sql: organizations a, b (active) and c (deleted).
insert into countries values ('CA', 'Canada'), ('FR', 'France');
insert into organizations values
  ('00000000-0000-4000-8000-00000000000a', 'Acme Welding', 'CA', null),
  ('00000000-0000-4000-8000-00000000000b', 'Côté & "Fils"', 'FR', null),
  ('00000000-0000-4000-8000-00000000000c', 'Gone Ltd', null, '2025-06-01 00:00+00');

insert into odd_types (organization_id, n_numeric, n_fixed, f_real, f_double, i_small, i_int, i_big, b_bool,
  t_text, t_varchar, t_char, b_bytea, d_date, t_time, t_timetz, ts, tstz, iv, u_uuid, j_json, j_jsonb,
  a_int, a_text, m_mood, a_mood, n_inet, n_cidr, n_mac, g_point, r_int, r_ts, c_money, bits, vbits, tsv)
select o.id, v.* from (values
  ('00000000-0000-4000-8000-00000000000a'::uuid), ('00000000-0000-4000-8000-00000000000b'::uuid)) o(id),
(values
  ('NaN'::numeric, 1234567890.0123456789::numeric(20,10), 'NaN'::real, 'Infinity'::float8, '-32768'::smallint,
   2147483647, '-9223372036854775808'::bigint, true,
   E'emoji 🦫, RTL עברית, combining é, back\\slash, "quotes", tab\t, newline\n, ctl \u0001 end', 'ten chars!',
   'ab', decode((select string_agg(lpad(to_hex(g), 2, '0'), '') from generate_series(0, 255) g), 'hex'),
   'infinity'::date, '24:00:00'::time, '23:59:59.999999+14'::timetz, '0044-03-15 12:00:00 BC'::timestamp,
   'infinity'::timestamptz, '1 year 2 mons -3 days 04:05:06.789'::interval,
   'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid, '{"a":1, "a" : 2,  "b": [1.0, 1e400]}'::json,
   '{"nested": {"k": [1, "two", null, {"x": false}]}, "n": 1.000}'::jsonb,
   '{{1,2},{3,NULL}}'::int[], array['', null, 'x,y', '"q"', 'NULL']::text[], 'happy'::mood, '{sad,happy}'::mood[],
   '2001:db8::1/128'::inet, '10.0.0.0/8'::cidr, '08:00:2b:01:02:03'::macaddr, '(1.5,-2.25)'::point,
   'empty'::int4range, '[2020-01-01,)'::tsrange, '-12.34'::money, B'1010', B'1',
   'the quick brown fox'::tsvector),
  (0.000000000000000000000000000001::numeric, '-0.0000000001'::numeric(20,10), '-0'::real, '-0'::float8,
   0::smallint, 0, 0::bigint, false, '', '', '', ''::bytea, '-infinity'::date, '00:00'::time, '00:00+00'::timetz,
   '1999-12-31 23:59:59.999999'::timestamp, '-infinity'::timestamptz, '-178000000 years'::interval, null, '[]'::json,
   '{}'::jsonb, '{}'::int[], '{}'::text[], 'sad'::mood, '{}'::mood[], '0.0.0.0'::inet, '::/0'::cidr,
   'ff:ff:ff:ff:ff:ff'::macaddr, '(0,0)'::point, '(,)'::int4range, 'empty'::tsrange, '0'::money,
   B'0000', B''::varbit, ''::tsvector),
  (123456789012345678901234567890.123456789012345678901234567890::numeric, null, 3.4028235e38::real,
   1.7976931348623157e308::float8, null, null, null, null, null, null, null, null, null, null, null, null, null,
   null, null, null, null, null, null, null, null, null, null, null, null, null, null, null, null, null, null),
  (null, null, null, 5e-324::float8, null, null, null, null, 'x', null, null, null, '2024-02-29'::date, null,
   null, null, '2024-02-29 12:00:00.5+05:30', null, null, 'null'::json, 'null'::jsonb, null, null, null, null,
   null, null, null, null, null, null, null, null, null, null)
) v;

insert into odd_serial (organization_id, label)
select o, 'serial ' || g from (values ('00000000-0000-4000-8000-00000000000a'::uuid),
  ('00000000-0000-4000-8000-00000000000b'::uuid)) x(o), generate_series(1, 5) g;

-- A three-level tree per tenant (self foreign key).
insert into nodes
select ('00000000-0000-4000-8001-' || lpad(to_hex(t * 256 + lvl * 16 + n), 12, '0'))::uuid,
       ('00000000-0000-4000-8000-00000000000' || t_chr)::uuid,
       case when lvl = 0 then null
            else ('00000000-0000-4000-8001-' || lpad(to_hex(t * 256 + (lvl - 1) * 16 + 0), 12, '0'))::uuid end,
       'node ' || lvl || '.' || n
from (values (1, 'a'), (2, 'b')) tt(t, t_chr), generate_series(0, 2) lvl, generate_series(0, 2) n
order by lvl;

-- Circular foreign keys: teams ↔ members.
insert into teams select ('00000000-0000-4000-8002-00000000000' || t)::uuid,
  ('00000000-0000-4000-8000-00000000000' || t)::uuid, null, 'team ' || t from (values ('a'), ('b')) x(t);
insert into members select ('00000000-0000-4000-8003-0000000000' || t || n)::uuid,
  ('00000000-0000-4000-8000-00000000000' || t)::uuid, ('00000000-0000-4000-8002-00000000000' || t)::uuid,
  'member ' || t || n from (values ('a'), ('b')) x(t), generate_series(1, 3) n;
update teams set lead_member_id = ('00000000-0000-4000-8003-0000000000' || right(id::text, 1) || '1')::uuid;

-- Depth-2 children without organization_id.
insert into orders select ('00000000-0000-4000-8004-0000000000' || t || n)::uuid,
  ('00000000-0000-4000-8000-00000000000' || t)::uuid, date '2025-01-01' + n
from (values ('a'), ('b')) x(t), generate_series(1, 4) n;
insert into order_items select ('00000000-0000-4000-8005-0000000' || t || n || i || '00')::uuid,
  ('00000000-0000-4000-8004-0000000000' || t || n)::uuid, 'SKU-' || n || i, i
from (values ('a'), ('b')) x(t), generate_series(1, 4) n, generate_series(1, 3) i;
insert into order_item_notes (order_item_id, note)
select id, 'note for ' || sku from order_items where qty < 3;

insert into big_table (organization_id, payload)
select '00000000-0000-4000-8000-00000000000a', md5(g::text) || repeat(' pad', g % 7) from generate_series(1, 1500) g;
insert into big_table (organization_id, payload)
select '00000000-0000-4000-8000-00000000000b', md5(g::text) from generate_series(1, 1200) g;

insert into no_pk_table values
  ('00000000-0000-4000-8000-00000000000a', 1, 'dup'), ('00000000-0000-4000-8000-00000000000a', 1, 'dup'),
  ('00000000-0000-4000-8000-00000000000a', 2, null), ('00000000-0000-4000-8000-00000000000b', 1, 'dup');
insert into unique_only values
  ('00000000-0000-4000-8000-00000000000a', 'X1', 'first'), ('00000000-0000-4000-8000-00000000000a', 'X2', 'second'),
  ('00000000-0000-4000-8000-00000000000b', 'X1', 'other tenant');
delete from trigger_hits;
