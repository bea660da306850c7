-- Deterministic demo data: three active organizations and one deleted one, about 40,000 rows.
-- Every id and value comes from md5 of a key (or random() after setseed), so each load gives the same
-- data; only the audit_logs rows written by the customers trigger carry the load time.
select setseed(0.42);

-- Helpers for this load only (pg_temp: gone with the session).
create function pg_temp.uid(k text) returns uuid language sql immutable as   -- a stable version-4-looking uuid
  $$ select (substr(h, 1, 12) || '4' || substr(h, 14, 3) || '8' || substr(h, 18, 15))::uuid from md5(k) h $$;
create function pg_temp.h(k text) returns int language sql immutable as      -- a stable number in 0 .. 2^28-1
  $$ select ('x' || substr(md5(k), 1, 7))::bit(28)::int $$;
create function pg_temp.pick(a text[], k text) returns text language sql immutable as
  $$ select a[1 + pg_temp.h(k) % cardinality(a)] $$;

insert into currencies values ('CAD', 'Canadian dollar', '$'), ('USD', 'US dollar', 'US$'), ('EUR', 'Euro', '€');

insert into organizations (id, name, slug, settings, smtp_password, currency_code, subscription_plan, deleted_at, created_at) values
  ('5f0c7a4e-2b1d-4c7e-9a55-3e2f1d0c9b88', 'Weldcor Supply', 'weldcor',
   '{"tz": "America/Regina", "invoice_prefix": "WC-", "features": {"scanning": true, "deliveries": true}}',
   'demo-smtp-pass-1', 'CAD', 'pro', null, '2023-03-02 17:20:11+00'),
  ('8a1b2c3d-4e5f-4a6b-9c7d-0e1f2a3b4c5d', 'Prairie Gas Co.', 'prairie-gas',
   '{"tz": "America/Winnipeg", "invoice_prefix": "PG-"}', 'demo-smtp-pass-2', 'CAD', 'basic', null, '2023-04-10 09:00:00+00'),
  ('c0ffee00-1234-4abc-8def-001122334455', 'Northern Cylinders', 'northern',
   '{"tz": "America/Edmonton", "beta": true}', null, 'USD', 'basic', null, '2024-07-21 13:45:00+00'),
  ('dead0000-0000-4000-8000-00000000beef', 'Defunct Welding', 'defunct', '{}', null, 'EUR', 'basic',
   '2025-02-01 00:00:00+00', '2022-11-01 08:00:00+00');

-- Size of each organization.
create temporary table demo_orgs (org uuid, slug text, n_gas int, n_loc int, n_prof int, n_cust int,
  n_bottles int, n_inv int, n_tickets int, since timestamptz);
insert into demo_orgs values
  ('5f0c7a4e-2b1d-4c7e-9a55-3e2f1d0c9b88', 'weldcor',     6, 4, 14, 1200, 3600, 520, 30, '2023-03-02 18:00+00'),
  ('8a1b2c3d-4e5f-4a6b-9c7d-0e1f2a3b4c5d', 'prairie-gas', 4, 3,  8,  600, 1800, 480, 20, '2023-04-10 10:00+00'),
  ('c0ffee00-1234-4abc-8def-001122334455', 'northern',    3, 2,  5,  250, 1100, 500, 12, '2024-07-21 14:00+00'),
  ('dead0000-0000-4000-8000-00000000beef', 'defunct',     3, 2,  2,   40,  120,  30,  3, '2022-11-01 09:00+00');

insert into gas_types (id, organization_id, name, description, size_code, daily_rate, color, created_at)
select pg_temp.uid('gas:' || o.slug || ':' || g.n), o.org, g.name, g.descr, g.size, g.rate, g.color, o.since
from demo_orgs o
join (values (1, 'OXYGEN', 'Industrial oxygen', 'K', 0.85, 'green'),
             (2, 'ARGON', 'Argon, welding grade', 'K', 1.10, 'grey'),
             (3, 'ACETYLENE', 'Dissolved acetylene', 'B', 1.25, 'maroon'),
             (4, 'NITROGEN', 'Nitrogen 99.998 %', 'K', 0.70, 'black'),
             (5, 'CO2', 'Carbon dioxide, beverage', '50LB', 0.95, 'silver'),
             (6, 'C25', 'Argon/CO₂ 75/25 "C25" mix', 'Q', 1.35, 'grey/green')) g(n, name, descr, size, rate, color)
  on g.n <= o.n_gas
order by o.since, g.n;

insert into locations (id, organization_id, name, address, province, created_at)
select pg_temp.uid('loc:' || o.slug || ':' || l.n), o.org, l.name, l.address, l.prov, o.since
from demo_orgs o
join (values (1, 'Main depot', '1200 Industrial Dr.', 'SK'),
             (2, 'North yard', '45 Range Rd 2254', 'AB'),
             (3, 'Truck 7', null, 'MB'),
             (4, 'Saint-Jérôme branch', '3 rue de l''Église', 'QC')) l(n, name, address, prov)
  on l.n <= o.n_loc
order by o.since, l.n;

insert into profiles (id, organization_id, email, full_name, role, phone, created_at)
select pg_temp.uid('prof:' || o.slug || ':' || g), o.org,
  'user' || g || '@' || o.slug || '.example',
  pg_temp.pick(array['Émilie', 'Jean-François', 'Marie', 'Liam', 'Olivia', 'Noah', 'Chloé', 'Sven', 'Priya',
                     'D''Arcy', 'Zoë', 'Mohammed'], 'first:' || o.slug || g) || ' ' ||
  pg_temp.pick(array['Tremblay', 'Côté', 'O''Neil', 'Nguyen', 'Smith', 'Müller', 'Bouchard', 'Singh',
                     'Kowalski', 'Lefèvre'], 'last:' || o.slug || g),
  case when g = 1 then 'owner' when g <= 3 then 'admin' else 'user' end,
  case when g % 4 = 0 then null else '+1 306 555 ' || lpad((1000 + g * 37)::text, 4, '0') end,
  o.since + g * interval '3 days'
from demo_orgs o, generate_series(1, o.n_prof) g
order by o.since, g;

-- Customers (the audit trigger fires once per row).
insert into customers (id, organization_id, name, "CustomerListID", balance, email, phone, address, city, province, created_at)
select pg_temp.uid('cust:' || o.slug || ':' || g), o.org, c.name,
  case when g % 25 = 0 then null
       else upper(lpad(to_hex(pg_temp.h('qb:' || o.slug || g) % 16777216), 8, '8')) || '-' || (1600000000 + g * 7919) end,
  case when g % 9 = 0 then null                                -- no balance yet
       when g = 7 then 1234.5678901234                          -- many decimals in: numeric(12,2) keeps 1234.57
       when g % 13 = 0 then 0
       else round((random() * 5500 - 500)::numeric, 2) end,
  case when g % 6 = 0 then null
       else lower(regexp_replace(c.name, '[^A-Za-z]+', '', 'g')) || g || '@example.com' end,
  '+1 ' || pg_temp.pick(array['306', '204', '780', '403', '514'], 'area:' || o.slug || g) || ' 555 '
    || lpad((pg_temp.h('ph:' || o.slug || g) % 10000)::text, 4, '0'),
  (100 + pg_temp.h('addr:' || o.slug || g) % 9800) || ' ' ||
    pg_temp.pick(array['Main St', 'Railway Ave', '1st Ave N', 'Boulevard des Érables', 'Range Rd 212', 'Victoria Ave E'],
                 'street:' || o.slug || g),
  pg_temp.pick(array['Regina', 'Saskatoon', 'Winnipeg', 'Brandon', 'Edmonton', 'Red Deer', 'Montréal', 'Trois-Rivières'],
               'city:' || o.slug || g),
  pg_temp.pick(array['SK', 'SK', 'MB', 'AB', 'QC'], 'prov:' || o.slug || g),
  o.since + interval '1 day' + g * interval '97 minutes'
from demo_orgs o, generate_series(1, o.n_cust) g,
lateral (select case g
  when 1 then 'Côté & Fils'
  when 2 then 'North "Star" Farms'
  when 3 then 'O''Brien Welding Ltd.'
  when 4 then 'Müller Gase GmbH'
  when 5 then 'Zoë''s Bakery 🍞'
  when 6 then 'Smith\Jones Fabrication'
  when 7 then 'Prairie Welding Ltd.'
  when 8 then '  Trailing Space Auto Body  '
  else pg_temp.pick(array['Prairie', 'Northern', 'Maple', 'Red River', 'Aurora', 'Bison', 'Golden', 'Lakeside',
                          'Summit', 'Timber', 'Saint-Laurent', 'Qu''Appelle'], 'p:' || o.slug || g) || ' ' ||
       pg_temp.pick(array['Welding', 'Fabrication', 'Farms', 'Brewing', 'Auto Body', 'Hospital', 'Dental',
                          'Machine Works', 'Ironworks', 'Co-op', 'Plumbing & Heating'], 's:' || o.slug || g) ||
       pg_temp.pick(array['', ' Ltd.', ' Inc.', ' Corp.', ''], 'x:' || o.slug || g)
  end as name) c
order by o.since, g;

-- Bottles: status decides whether one is out at a customer.
insert into bottles (id, organization_id, barcode_number, serial_number, assigned_customer, gas_type_id, location_id,
                     status, last_inspected, created_at)
select pg_temp.uid('bot:' || o.slug || ':' || g), o.org,
  lpad((o.n_bottles * 1000 + g)::text, 9, '0'),
  case when g % 17 = 0 then null else 'SN-' || upper(substr(md5('sn:' || o.slug || g), 1, 6)) end,
  case when s.status = 'rented' then pg_temp.uid('cust:' || o.slug || ':' || (1 + pg_temp.h('bc:' || o.slug || g) % o.n_cust)) end,
  pg_temp.uid('gas:' || o.slug || ':' || (1 + g % o.n_gas)),
  case when s.status = 'rented' then null else pg_temp.uid('loc:' || o.slug || ':' || (1 + g % o.n_loc)) end,
  s.status,
  case when g % 11 = 0 then null else date '2020-01-01' + pg_temp.h('insp:' || o.slug || g) % 1900 end,
  o.since + g * interval '11 minutes'
from demo_orgs o, generate_series(1, o.n_bottles) g,
lateral (select case when pg_temp.h('st:' || o.slug || g) % 20 < 12 then 'rented'
                     when pg_temp.h('st:' || o.slug || g) % 20 < 17 then 'available'
                     when pg_temp.h('st:' || o.slug || g) % 20 < 19 then 'empty'
                     else 'maintenance' end as status) s
order by o.since, g;

-- Rentals: the open one of every rented bottle, and a closed one for about a quarter of all bottles.
insert into rentals (id, organization_id, customer_id, bottle_id, start_date, end_date, rate, created_at)
select pg_temp.uid('rent:' || b.id), b.organization_id, b.assigned_customer, b.id,
  date '2024-01-01' + pg_temp.h('rs:' || b.id) % 600, null,
  case when b.barcode_number = '003600007' then 12.345678901234567890123  -- a rate with many decimals
       else t.daily_rate * 30 end,
  b.created_at + interval '1 hour'
from bottles b join gas_types t on t.id = b.gas_type_id
where b.assigned_customer is not null
order by b.organization_id, b.barcode_number;
insert into rentals (id, organization_id, customer_id, bottle_id, start_date, end_date, rate, created_at)
select pg_temp.uid('rent-old:' || b.id), b.organization_id,
  pg_temp.uid('cust:' || o.slug || ':' || (1 + pg_temp.h('oc:' || b.id) % o.n_cust)), b.id,
  date '2022-06-01' + pg_temp.h('os:' || b.id) % 300, date '2023-12-01' + pg_temp.h('oe:' || b.id) % 30,
  round(t.daily_rate * 28, 2), b.created_at + interval '2 hours'
from bottles b join demo_orgs o on o.org = b.organization_id join gas_types t on t.id = b.gas_type_id
where pg_temp.h('old:' || b.id) % 4 = 0
order by b.organization_id, b.barcode_number;

-- Invoices, their lines (no organization_id) and the lines' adjustments (depth 2).
insert into rental_invoices (id, organization_id, customer_id, period_start, period_end, total, paid, issued_at, created_at)
select pg_temp.uid('inv:' || o.slug || ':' || g), o.org,
  pg_temp.uid('cust:' || o.slug || ':' || (1 + pg_temp.h('ic:' || o.slug || g) % o.n_cust)),
  p.start, (p.start + interval '1 month - 1 day')::date, 0, g % 5 <> 0,
  (p.start + interval '1 month')::timestamptz + interval '6 hours', (p.start + interval '1 month')::timestamptz
from demo_orgs o, generate_series(1, o.n_inv) g,
lateral (select (date '2024-01-01' + ((g % 18) || ' months')::interval)::date as start) p
order by o.since, g;
insert into invoice_line_items (id, invoice_id, bottle_id, description, quantity, amount)
select pg_temp.uid('li:' || i.id || ':' || k), i.id,
  pg_temp.uid('bot:' || o.slug || ':' || (1 + pg_temp.h('lb:' || i.id || k) % o.n_bottles)),
  pg_temp.pick(array['Cylinder rental, 30 days', 'Cylinder rental — prorated', 'Hazmat surcharge',
                     'Delivery fee', 'Gas refill (K size)', 'Demurrage "overdue" charge'], 'ld:' || i.id || k),
  1 + pg_temp.h('lq:' || i.id || k) % 6,
  round((1 + pg_temp.h('lq:' || i.id || k) % 6) * (5 + (pg_temp.h('la:' || i.id || k) % 4000) / 100.0), 2)
from rental_invoices i join demo_orgs o on o.org = i.organization_id,
  generate_series(1, 1 + pg_temp.h('n:' || i.id) % 4) k
order by i.invoice_number, k;
insert into line_item_adjustments (id, line_item_id, reason, amount, created_at)
select pg_temp.uid('adj:' || l.id), l.id,
  pg_temp.pick(array['Loyalty discount', 'Damaged valve credit', 'Late return fee', 'Price match'], 'ar:' || l.id),
  case when pg_temp.h('as:' || l.id) % 3 = 0 then 15.00 else -round(l.amount * 0.1, 2) end,
  timestamptz '2025-01-15 12:00+00' + (pg_temp.h('at:' || l.id) % 10000) * interval '1 hour'
from invoice_line_items l
where pg_temp.h('adj?' || l.id) % 8 = 0
order by l.id;
update rental_invoices i set total = coalesce((select sum(l.amount) from invoice_line_items l where l.invoice_id = i.id), 0)
  + coalesce((select sum(a.amount) from invoice_line_items l join line_item_adjustments a on a.line_item_id = l.id
              where l.invoice_id = i.id), 0);

insert into deliveries (id, organization_id, customer_id, driver_id, location_id, scheduled_for, delivered_at, status, notes, created_at)
select pg_temp.uid('del:' || o.slug || ':' || g), o.org,
  pg_temp.uid('cust:' || o.slug || ':' || (1 + pg_temp.h('dc:' || o.slug || g) % o.n_cust)),
  pg_temp.uid('prof:' || o.slug || ':' || (1 + g % o.n_prof)),
  pg_temp.uid('loc:' || o.slug || ':' || (1 + g % o.n_loc)),
  d.day, case when g % 3 <> 0 then d.day + interval '14 hours 30 minutes' end,
  case when g % 3 <> 0 then 'delivered' when g % 7 = 0 then 'cancelled' else 'scheduled' end,
  case g % 5 when 0 then E'Back door, ring twice.\nDog on site!' when 1 then null when 2 then '' else 'Leave at gate' end,
  d.day - interval '3 days'
from demo_orgs o, generate_series(1, o.n_cust / 4) g,
lateral (select date '2025-01-06' + pg_temp.h('dd:' || o.slug || g) % 200 as day) d
order by o.since, g;

insert into notifications (organization_id, profile_id, type, message, read, created_at)
select p.organization_id, p.id, pg_temp.pick(array['invoice', 'delivery', 'system'], 'nt:' || p.id || g),
  'Invoice batch ' || g || ' is ready', g % 3 <> 0,
  p.created_at + g * interval '5 days'
from profiles p, generate_series(1, 10) g
order by p.created_at, p.id, g;

insert into support_tickets (id, organization_id, created_by, subject, status, priority, created_at)
select pg_temp.uid('tick:' || o.slug || ':' || g), o.org, pg_temp.uid('prof:' || o.slug || ':' || (1 + g % o.n_prof)),
  pg_temp.pick(array['Valve leaking on cylinder', 'Invoice total looks wrong', 'Can''t scan barcodes',
                     'Besoin d''aide — facture en double', 'Export to "QuickBooks" fails'], 'ts:' || o.slug || g) || ' #' || g,
  case when g % 3 = 0 then 'closed' when g % 5 = 0 then 'pending' else 'open' end,
  case when g % 4 = 0 then 'high' else 'normal' end,
  timestamptz '2025-01-01 09:00+00' + g * interval '2 days 3 hours'
from demo_orgs o, generate_series(1, o.n_tickets) g
order by o.since, g;
insert into support_ticket_messages (id, ticket_id, author_id, body, created_at)
select pg_temp.uid('msg:' || t.id || ':' || k), t.id,
  case when k % 2 = 1 then t.created_by end,                   -- null author: support staff outside the tenant
  case k % 3 when 1 then E'Hi,\n\nThe regulator hisses when it''s opened. Photo attached.\n— Sent from my phone'
             when 2 then 'We''ll look into it: "ticket ' || k || '" is with the team.'
             else E'Merci! Ça marche maintenant.\tClosing.' end,
  t.created_at + k * interval '4 hours'
from support_tickets t, generate_series(1, 1 + pg_temp.h('nm:' || t.id) % 5) k
order by t.created_at, t.id, k;

insert into cylinder_fills (id, organization_id, bottle_id, gas_type_id, filled_by, filled_at, pressure_psi, lot_number)
select pg_temp.uid('fill:' || b.id), b.organization_id, b.id, b.gas_type_id,
  pg_temp.uid('prof:' || o.slug || ':' || (1 + pg_temp.h('fb:' || b.id) % o.n_prof)),
  timestamptz '2025-04-01 00:00+00' + (pg_temp.h('fa:' || b.id) % 100000) * interval '1 minute',
  2000 + pg_temp.h('fp:' || b.id) % 400, 'LOT-' || (24000 + pg_temp.h('fl:' || b.id) % 300)
from bottles b join demo_orgs o on o.org = b.organization_id
where b.status <> 'maintenance' and pg_temp.h('f?' || b.id) % 2 = 0
order by b.organization_id, b.barcode_number;

insert into bottle_scans (organization_id, bottle_id, location_id, scanned_by, action, scanned_at)
select b.organization_id, b.id, pg_temp.uid('loc:' || o.slug || ':' || (1 + (g + pg_temp.h('sl:' || b.id)) % o.n_loc)),
  pg_temp.uid('prof:' || o.slug || ':' || (1 + (g + pg_temp.h('sb:' || b.id)) % o.n_prof)),
  case g when 1 then 'in' else 'out' end,
  timestamptz '2025-05-01 00:00+00' + (pg_temp.h('sa:' || b.id) % 20000 + g * 1440) * interval '1 minute'
from bottles b join demo_orgs o on o.org = b.organization_id, generate_series(1, 2) g
order by b.organization_id, b.barcode_number, g;

insert into organization_join_codes (id, organization_id, code, created_by, role, max_uses, use_count, expires_at, created_at)
select pg_temp.uid('join:' || o.slug || ':' || g), o.org, upper(substr(md5('code:' || o.slug || g), 1, 8)),
  pg_temp.uid('prof:' || o.slug || ':1'), case g when 1 then 'user' else 'admin' end,
  case g when 1 then null else 5 end, g - 1, timestamptz '2026-12-31 23:59:59+00', o.since + g * interval '30 days'
from demo_orgs o, generate_series(1, 2) g
order by o.since, g;

insert into sales_orders (id, organization_id, customer_id, order_number, status, ordered_at, total)
select pg_temp.uid('so:' || o.slug || ':' || g), o.org,
  pg_temp.uid('cust:' || o.slug || ':' || (1 + pg_temp.h('sc:' || o.slug || g) % o.n_cust)),
  'SO-' || lpad(g::text, 6, '0'), case when g % 6 = 0 then 'draft' when g % 6 = 1 then 'cancelled' else 'confirmed' end,
  timestamptz '2025-02-01 08:00+00' + g * interval '7 hours', 0
from demo_orgs o, generate_series(1, o.n_cust / 4) g
order by o.since, g;
insert into sales_order_items (id, organization_id, sales_order_id, gas_type_id, quantity, unit_price)
select pg_temp.uid('soi:' || s.id || ':' || k), s.organization_id, s.id,
  pg_temp.uid('gas:' || o.slug || ':' || (1 + (k + pg_temp.h('sg:' || s.id)) % o.n_gas)),
  1 + pg_temp.h('sq:' || s.id || k) % 4, round(20 + (pg_temp.h('sp:' || s.id || k) % 8000) / 100.0, 2)
from sales_orders s join demo_orgs o on o.org = s.organization_id, generate_series(1, 1 + pg_temp.h('sn:' || s.id) % 3) k
order by s.ordered_at, s.id, k;
update sales_orders s set total = (select sum(i.quantity * i.unit_price) from sales_order_items i where i.sales_order_id = s.id);

insert into user_invites (id, organization_id, email, role, invited_by, accepted_at, created_at)
select pg_temp.uid('inv:' || o.slug || ':' || g), o.org, 'invitee' || g || '@' || o.slug || '.example',
  case when g = 1 then 'admin' else 'user' end, pg_temp.uid('prof:' || o.slug || ':1'),
  case when g % 2 = 0 then o.since + g * interval '5 days' end, o.since + g * interval '4 days'
from demo_orgs o, generate_series(1, 3) g
order by o.since, g;

insert into ownership_values (id, organization_id, value, label, sort_order)
select pg_temp.uid('own:' || o.slug || ':' || v.n), o.org, v.value, v.label, v.n
from demo_orgs o
join (values (1, 'supplier', 'Owned by us'), (2, 'customer', 'Customer-owned'), (3, 'leased', 'Leased (3rd party)'))
  v(n, value, label) on true
order by o.since, v.n;

insert into customer_support (id, organization_id, customer_id, profile_id, notes)
select pg_temp.uid('cs:' || o.slug || ':' || g), o.org, pg_temp.uid('cust:' || o.slug || ':' || g),
  pg_temp.uid('prof:' || o.slug || ':' || (1 + g % o.n_prof)), case when g % 3 = 0 then 'prefers morning deliveries' end
from demo_orgs o, generate_series(1, least(o.n_cust, 25)) g
order by o.since, g;

insert into verification_requests (id, organization_id, customer_id, requested_by, status, requested_at)
select pg_temp.uid('vr:' || o.slug || ':' || g), o.org, pg_temp.uid('cust:' || o.slug || ':' || (g * 3)),
  pg_temp.uid('prof:' || o.slug || ':1'), case when g % 4 = 0 then 'pending' else 'approved' end,
  timestamptz '2025-03-01 09:00+00' + g * interval '2 days'
from demo_orgs o, generate_series(1, 8) g
order by o.since, g;

insert into verified_orders (id, organization_id, sales_order_id, verification_request_id, verified_at)
select pg_temp.uid('vo:' || o.slug || ':' || g), o.org, pg_temp.uid('so:' || o.slug || ':' || g),
  pg_temp.uid('vr:' || o.slug || ':' || g), timestamptz '2025-03-02 10:00+00' + g * interval '2 days'
from demo_orgs o, generate_series(1, 8) g
where g % 4 <> 0
order by o.since, g;

-- A few more audit entries besides the trigger's: invoices issued, and a login without a tenant.
insert into audit_logs (organization_id, profile_id, action, details, created_at)
select i.organization_id, pg_temp.uid('prof:' || o.slug || ':1'), 'invoice.issued',
  jsonb_build_object('invoice_id', i.id, 'invoice_number', i.invoice_number, 'total', i.total,
                     'lines', (select count(*) from invoice_line_items l where l.invoice_id = i.id)),
  i.issued_at
from rental_invoices i join demo_orgs o on o.org = i.organization_id
order by i.invoice_number;
insert into audit_logs (organization_id, action, details, created_at)
values (null, 'system.maintenance', '{"note": "nightly vacuum", "by": null}', '2025-03-01 03:00+00');

drop table demo_orgs;
drop function pg_temp.pick(text[], text);
drop function pg_temp.h(text);
drop function pg_temp.uid(text);
analyze;
