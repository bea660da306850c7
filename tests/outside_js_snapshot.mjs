// What the app's own code sees of one tenant through the official JavaScript client (supabase-js,
// installed by .ci/run into tests/.npm/): its rows in the given tables and its files (bytes as
// base64, type, cache control, user metadata), as JSON on stdout, for tests/test_outside.py.
// Environment: SUPABASE_URL, SERVICE_KEY, SUPABASE_JS_DIR, ORG, TABLES (comma separated), BUCKETS.
import { createRequire } from 'node:module'

const require = createRequire(process.env.SUPABASE_JS_DIR + '/')
const { createClient } = require('@supabase/supabase-js')
const supabase = createClient(process.env.SUPABASE_URL, process.env.SERVICE_KEY)
const org = process.env.ORG
const out = { rows: {}, files: {} }

for (const table of process.env.TABLES.split(',')) {
  const column = table === 'organizations' ? 'id' : 'organization_id'
  const { data, error } = await supabase.from(table).select('*').eq(column, org).order('id').range(0, 999)
  if (error) throw new Error(`${table}: ${error.message}`)
  out.rows[table] = data
}

async function walk (bucket, prefix) {
  const { data, error } = await supabase.storage.from(bucket).list(prefix, { limit: 1000 })
  if (error) throw new Error(`${bucket}/${prefix}: ${error.message}`)
  for (const item of data) {
    const key = prefix ? `${prefix}/${item.name}` : item.name
    if (item.id === null) { await walk(bucket, key); continue }
    if (!key.includes(org)) continue
    if (/[?#]/.test(key)) { // supabase-js puts the key into the URL unencoded: such an object reads as "not found"
      const m = item.metadata
      out.files[`${bucket}/${key}`] = { listed: { eTag: m.eTag, size: m.size, mimetype: m.mimetype } }
      continue
    }
    const { data: blob, error: e1 } = await supabase.storage.from(bucket).download(key)
    if (e1) throw new Error(`${bucket}/${key}: ${e1.message}`)
    const { data: info, error: e2 } = await supabase.storage.from(bucket).info(key)
    if (e2) throw new Error(`${bucket}/${key}: ${e2.message}`)
    out.files[`${bucket}/${key}`] = {
      base64: Buffer.from(await blob.arrayBuffer()).toString('base64'),
      contentType: info.contentType, cacheControl: info.cacheControl, metadata: info.metadata, size: info.size
    }
  }
}
for (const bucket of process.env.BUCKETS.split(',')) await walk(bucket, '')
process.stdout.write(JSON.stringify(out))
