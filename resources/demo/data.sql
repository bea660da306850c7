-- Deterministic demo data: three active organizations and one deleted one, a few tens of thousands of rows.
select setseed(0.42);
insert into currencies values ('CAD', 'Canadian dollar'), ('USD', 'US dollar'), ('EUR', 'Euro');
insert into organizations (id, name, slug, settings, smtp_password, currency_code, deleted_at, created_at) values
  ('5f0c7a4e-2b1d-4c7e-9a55-3e2f1d0c9b88', 'Weldcor Supply', 'weldcor', '{"tz": "America/Regina"}', 'demo-smtp-pass-1', 'CAD', null, '2024-03-02 17:20:11+00'),
  ('8a1b2c3d-4e5f-4a6b-9c7d-0e1f2a3b4c5d', 'Prairie Gas Co.', 'prairie-gas', '{"tz": "America/Winnipeg"}', 'demo-smtp-pass-2', 'CAD', null, '2024-04-10 09:00:00+00'),
  ('c0ffee00-1234-4abc-8def-001122334455', 'Northern Cylinders', 'northern', '{"tz": "America/Edmonton", "beta": true}', null, 'USD', null, '2024-07-21 13:45:00+00'),
  ('dead0000-0000-4000-8000-00000000beef', 'Defunct Welding', 'defunct', '{}', null, 'EUR', '2025-02-01 00:00:00+00', '2023-11-01 08:00:00+00');

-- Sizes per organization: (customers, bottles)
create temporary table demo_sizes (org uuid, n_customers int, n_bottles int, n_profiles int);
insert into demo_sizes values
  ('5f0c7a4e-2b1d-4c7e-9a55-3e2f1d0c9b88', 1200, 3600, 14),
  ('8a1b2c3d-4e5f-4a6b-9c7d-0e1f2a3b4c5d', 600, 1800, 8),
  ('c0ffee00-1234-4abc-8def-001122334455', 250, 1100, 5),
  ('dead0000-0000-4000-8000-00000000beef', 40, 120, 2);

insert into gas_types (organization_id, name, color)
select s.org, g.name, g.color from demo_sizes s,
  (values ('OXYGEN', 'green'), ('ARGON', 'grey'), ('ACETYLENE', 'maroon'), ('NITROGEN', 'black'), ('CO2', 'silver')) g(name, color);
insert into locations (organization_id, name, province)
select s.org, l.name, l.prov from demo_sizes s,
  (values ('Main depot', 'SK'), ('North yard', 'MB'), ('Truck 7', 'AB')) l(name, prov);
insert into profiles (organization_id, email, full_name, role)
select s.org, 'user' || g || '@' || o.slug || '.example', initcap(md5(o.slug || g)::text), case when g = 1 then 'owner' when g < 4 then 'admin' else 'user' end
from demo_sizes s join organizations o on o.id = s.org, generate_series(1, s.n_profiles) g;

insert into customers (organization_id, name, "CustomerListID", balance, phone, created_at)
select s.org,
  case g % 50 when 0 then 'Côté & Fils ' || g when 1 then 'North "Star" Farms ' || g when 2 then 'O''Brien Welding #' || g
       else 'Customer ' || g end,
  (80000000 + g)::text || '-' || (1700000000 + g)::text,
  case when g % 9 = 0 then null else round((random() * 5000)::numeric, 2) end,
  '+1 306 555 ' || lpad((g % 10000)::text, 4, '0'),
  timestamptz '2024-05-01 00:00+00' + (g || ' hours')::interval
from demo_sizes s, generate_series(1, s.n_customers) g;

insert into bottles (organization_id, barcode_number, assigned_customer, gas_type_id, location_id, status)
select s.org, lpad((s.n_bottles * 7 + g)::text, 9, '0'),
  case when g % 3 = 0 then null else (select c.id from customers c where c.organization_id = s.org
                                       order by c.created_at offset (g % s.n_customers) limit 1) end,
  (select t.id from gas_types t where t.organization_id = s.org order by t.name offset (g % 5) limit 1),
  (select l.id from locations l where l.organization_id = s.org order by l.name offset (g % 3) limit 1),
  case when g % 3 = 0 then 'available' when g % 11 = 0 then 'maintenance' else 'rented' end
from demo_sizes s, generate_series(1, s.n_bottles) g;

insert into rentals (organization_id, customer_id, bottle_id, start_date, end_date, rate)
select b.organization_id, b.assigned_customer, b.id, date '2024-06-01' + (abs(hashtext(b.id::text)) % 300),
  case when abs(hashtext(b.barcode_number)) % 4 = 0 then date '2025-06-01' else null end, 12.50
from bottles b where b.assigned_customer is not null;

insert into rental_invoices (organization_id, customer_id, total, issued_at, paid)
select c.organization_id, c.id, 0, timestamptz '2025-01-01 00:00+00' + (m || ' months')::interval, m < 2
from customers c, generate_series(0, 2) m where abs(hashtext(c.id::text)) % 3 = 0;
insert into invoice_line_items (invoice_id, description, quantity, amount)
select i.id, 'Cylinder rental, ' || g || ' units', g, round(12.5 * g, 2)
from rental_invoices i, generate_series(1, 1 + abs(hashtext(i.id::text)) % 3) g;
update rental_invoices i set total = (select sum(amount) from invoice_line_items l where l.invoice_id = i.id);
insert into line_item_adjustments (line_item_id, reason, amount)
select l.id, 'Loyalty discount', -1.25 from invoice_line_items l where abs(hashtext(l.id::text)) % 10 = 0;

insert into deliveries (organization_id, customer_id, scheduled_for, delivered_at, notes)
select c.organization_id, c.id, date '2025-03-01' + (abs(hashtext(c.name)) % 60),
  case when abs(hashtext(c.id::text)) % 2 = 0 then timestamptz '2025-03-02 10:00+00' end, 'Back door, ring twice'
from customers c where abs(hashtext(c.id::text)) % 4 = 0;
insert into notifications (organization_id, profile_id, message, read)
select p.organization_id, p.id, 'Invoice batch ' || g || ' is ready', g % 2 = 0 from profiles p, generate_series(1, 10) g;
insert into support_tickets (organization_id, subject, status)
select s.org, 'Ticket ' || g || ': valve leaking', case when g % 3 = 0 then 'closed' else 'open' end
from demo_sizes s, generate_series(1, 25) g;
insert into support_ticket_messages (ticket_id, author_id, body)
select t.id, (select p.id from profiles p where p.organization_id = t.organization_id order by p.email limit 1),
  'Message ' || g || E' — we''ll look into it.\nThanks!'
from support_tickets t, generate_series(1, 3) g;
insert into cylinder_fills (organization_id, bottle_id, filled_at, pressure_psi)
select b.organization_id, b.id, timestamptz '2025-04-01 00:00+00' + (abs(hashtext(b.id::text)) % 1000 || ' minutes')::interval, 2200
from bottles b where b.status <> 'maintenance';
insert into bottle_scans (organization_id, bottle_id, scanned_at, location_id)
select b.organization_id, b.id, timestamptz '2025-05-01 00:00+00' + (g || ' days')::interval, b.location_id
from bottles b, generate_series(1, 2) g;
insert into organization_join_codes select upper(substr(md5(s.org::text), 1, 8)), s.org, '2026-12-31' from demo_sizes s;
insert into sales_orders (organization_id, customer_id, total)
select c.organization_id, c.id, 99.95 from customers c where abs(hashtext(c.name)) % 5 = 0;
insert into sales_order_items (organization_id, sales_order_id, gas_type_id, quantity, price)
select o.organization_id, o.id, (select t.id from gas_types t where t.organization_id = o.organization_id order by t.name limit 1), 2, 49.975
from sales_orders o;
drop table demo_sizes;
analyze;
