/**
 * Puts the SQLite addon that works on the running Node where @effect/sql-sqlite-node loads
 * `better-sqlite3` from. Run by `npm install` (the root package's `postinstall`).
 *
 * @effect/sql-sqlite-node depends on better-sqlite3 12, whose addon aborts the process on Node 24
 * ("Assertion failed: (env) != nullptr" in `Statement::~Statement`: Node 24's `ObjectWrap` removes an
 * environment cleanup hook when a statement is collected, which better-sqlite3 12 does after the
 * environment is gone). better-sqlite3 13 has the same JavaScript API on Node-API, with prebuilt
 * binaries, but needs Node 22 or later (it crashes on Node 20). The store lists 13 as the optional
 * dependency `better-sqlite3-napi`, which npm installs only on Node 22 and later; on Node 24 and later
 * this script copies it over `node_modules/better-sqlite3`. On Node 20 and 22 it does nothing.
 */
import { cpSync, existsSync, readFileSync, rmSync } from "node:fs"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"

const root = join(dirname(fileURLToPath(import.meta.url)), "..")
const loaded = join(root, "node_modules", "better-sqlite3")
const napi = join(root, "node_modules", "better-sqlite3-napi")
const versionOf = (dir) =>
  existsSync(join(dir, "package.json")) ? JSON.parse(readFileSync(join(dir, "package.json"), "utf8")).version : null

const major = Number(process.versions.node.split(".")[0])
if (major >= 24) {
  const wanted = versionOf(napi)
  if (wanted === null) {
    console.error(
      `sqlite-addon: Node ${process.versions.node} needs better-sqlite3 13, but node_modules/better-sqlite3-napi ` +
        "is missing: install with optional dependencies (npm install --include=optional)"
    )
    process.exit(1)
  }
  if (versionOf(loaded) !== wanted) {
    rmSync(loaded, { recursive: true, force: true })
    cpSync(napi, loaded, { recursive: true })
    console.log(`sqlite-addon: better-sqlite3 ${wanted} (Node-API) installed for Node ${process.versions.node}`)
  }
}
