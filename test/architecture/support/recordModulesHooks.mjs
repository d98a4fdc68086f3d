// Module resolution hooks (run in Node's loader thread): append each resolved URL to MX_TEST_MODULES_LOG.
import { appendFileSync } from "node:fs"

export async function resolve(specifier, context, nextResolve) {
  const resolved = await nextResolve(specifier, context)
  const log = process.env.MX_TEST_MODULES_LOG
  if (log) appendFileSync(log, `${resolved.url}\n`)
  return resolved
}
