// The official JavaScript client (supabase-js, installed by .ci/run into tests/.npm/) against the
// local stack: each call's { data, error } as JSON on stdout, for tests/test_supabase_stack.py.
// Environment: SUPABASE_URL, SERVICE_KEY, SUPABASE_JS_DIR (the node_modules folder holding it).
import { createRequire } from 'node:module'

const require = createRequire(process.env.SUPABASE_JS_DIR + '/')
const { createClient } = require('@supabase/supabase-js')
const url = process.env.SUPABASE_URL
const supabase = createClient(url, process.env.SERVICE_KEY)
const storage = supabase.storage
const out = {}

async function step(name, call) {
  try {
    const { data, error } = await call()
    out[name] = { data: data ?? null, error: error ? { message: error.message, status: error.status ?? null,
      statusCode: error.statusCode ?? null, code: error.code ?? null } : null }
  } catch (err) {
    out[name] = { data: null, error: { message: String(err), thrown: true } }
  }
}

await step('createBucket', () => storage.createBucket('b', { public: false, fileSizeLimit: 1000,
  allowedMimeTypes: ['text/plain'] }))
const b = storage.from('b')
await step('upload', () => b.upload('dir/a.txt', 'hello world', { contentType: 'text/plain',
  metadata: { owner: 'test' } }))
await step('info', () => b.info('dir/a.txt'))
await step('createSignedUrl', () => b.createSignedUrl('dir/a.txt', 60))
if (out.createSignedUrl.data) {
  const r = await fetch(out.createSignedUrl.data.signedUrl)
  out.signedDownload = { status: r.status, text: await r.text() }
}
await step('createSignedUrls', () => b.createSignedUrls(['dir/a.txt', 'dir/none.txt'], 60))
await step('createSignedUploadUrl', () => b.createSignedUploadUrl('dir/up.txt'))
if (out.createSignedUploadUrl.data) {
  await step('uploadToSignedUrl', () => b.uploadToSignedUrl('dir/up.txt', out.createSignedUploadUrl.data.token,
    new Blob(['through a signed URL'], { type: 'text/plain' })))
  await step('downloadUp', async () => {
    const { data, error } = await b.download('dir/up.txt')
    return { data: data ? await data.text() : null, error }
  })
}
await step('listV2', () => b.listV2({ prefix: 'dir/' }))
await step('badKey', () => b.upload('folder a/ünï 文件.txt', 'x', { contentType: 'text/plain' }))
await step('updateBucket', () => storage.updateBucket('b', { public: true }))
await step('getBucket', () => storage.getBucket('b'))
await step('listBuckets', () => storage.listBuckets({ limit: 1, search: 'b' }))
await step('list', () => b.list('DIR'))
await step('deleteBucket', () => storage.deleteBucket('b'))
// keep-alive: a refused request with a body, then the next one on the same pooled connection
const wrong = createClient(url, 'not-a-key')
await step('refusedRpc', () => wrong.rpc('tenant_backup_info', { limit: 100, offset: 0 }))
await step('afterRefusal', () => supabase.from('big_table').select('id').limit(1))
await step('refusedList', () => wrong.from('big_table').select('id').limit(1))
await step('afterRefusal2', () => storage.listBuckets())
console.log(JSON.stringify(out))
