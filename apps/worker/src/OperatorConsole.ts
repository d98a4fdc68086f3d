/**
 * The operator console: a browser page served by the control API at `/console/`, made of the static
 * files in the worker package's `console/` directory (hand-written ES modules and CSS, no CDN). The
 * files need no token; the page asks for it once and sends it with every call to the control API.
 *
 * The directory is found from the worker package's root (the directory of the `package.json` named
 * `@mx-aggregation/worker`), so that it is the same whether the worker runs from `src/` or from a
 * compiled output directory. The files are read once, at start-up: a request names one of them, or
 * gets a 404 (no path from a request ever reaches the file system).
 *
 * @since 0.1.0
 */
import { HttpApiBuilder, HttpServerRequest, HttpServerResponse } from "@effect/platform"
import { Effect, Option } from "effect"
import { createHash } from "node:crypto"
import { existsSync, readdirSync, readFileSync } from "node:fs"
import { dirname, extname, join, relative, sep } from "node:path"
import { fileURLToPath } from "node:url"
import * as Problem from "./Problem.js"
import { pathOf } from "./RequestLog.js"

/**
 * Where the console is served.
 *
 * @since 0.1.0
 * @category constants
 */
export const path = "/console"

/**
 * The name of the worker package, whose root holds `console/`.
 *
 * @since 0.1.0
 * @category constants
 */
export const packageName = "@mx-aggregation/worker"

/**
 * The content type of each kind of file the console may hold; other files are not served.
 *
 * @since 0.1.0
 * @category constants
 */
export const contentTypes: { readonly [extension: string]: string } = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".json": "application/json"
}

/**
 * The page's Content Security Policy: its own scripts and styles only (no inline script or style, no
 * other origin), calls to its own origin only, images from itself or `data:` URIs (MX's image
 * challenges), and no native form submission (the forms are sent by script, as JSON with the token).
 *
 * @since 0.1.0
 * @category constants
 */
export const contentSecurityPolicy = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "form-action 'none'",
  "base-uri 'none'",
  "frame-ancestors 'none'"
].join("; ")

/**
 * The headers every file of the console is served with. `no-cache` with an `ETag`: the browser keeps
 * a copy and asks each time whether it is still current (304), so a new version shows at once.
 *
 * @since 0.1.0
 * @category constants
 */
export const headers: { readonly [name: string]: string } = {
  "content-security-policy": contentSecurityPolicy,
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "x-frame-options": "DENY",
  "cross-origin-opener-policy": "same-origin",
  "cross-origin-resource-policy": "same-origin",
  "cache-control": "no-cache"
}

/**
 * One file of the console, as served.
 *
 * @since 0.1.0
 * @category models
 */
export interface Asset {
  readonly body: Uint8Array
  readonly contentType: string
  readonly etag: string
}

/**
 * The root directory of the worker package: the first directory at or above `from` (a file URL or
 * path) whose `package.json` is named `@mx-aggregation/worker`.
 *
 * @since 0.1.0
 * @category files
 */
export const packageRoot = (from: string | URL = import.meta.url): Option.Option<string> => {
  let directory = dirname(typeof from === "string" && !from.startsWith("file:") ? from : fileURLToPath(from))
  for (;;) {
    const manifest = join(directory, "package.json")
    if (existsSync(manifest)) {
      try {
        if ((JSON.parse(readFileSync(manifest, "utf8")) as { name?: unknown }).name === packageName) {
          return Option.some(directory)
        }
      } catch {
        // Not a readable manifest: keep walking up.
      }
    }
    const parent = dirname(directory)
    if (parent === directory) return Option.none()
    directory = parent
  }
}

/**
 * The console's directory in the worker package (`<package root>/console`), if the package is found.
 *
 * @since 0.1.0
 * @category files
 */
export const defaultDirectory = (): Option.Option<string> => Option.map(packageRoot(), (root) => join(root, "console"))

const filesUnder = (directory: string): Array<string> =>
  readdirSync(directory, { withFileTypes: true }).flatMap((entry) => {
    const full = join(directory, entry.name)
    return entry.isDirectory() ? filesUnder(full) : entry.isFile() ? [full] : []
  })

/**
 * Reads the console's files under `directory`, by their path relative to it (`/`-separated); files of
 * a kind not in `contentTypes` are left out. An empty map when the directory does not exist.
 *
 * @since 0.1.0
 * @category files
 */
export const load = (directory: string): ReadonlyMap<string, Asset> => {
  const assets = new Map<string, Asset>()
  if (!existsSync(directory)) return assets
  for (const file of filesUnder(directory)) {
    const contentType = contentTypes[extname(file).toLowerCase()]
    if (contentType === undefined) continue
    const body = new Uint8Array(readFileSync(file))
    const etag = `"${createHash("sha256").update(body).digest("base64url").slice(0, 27)}"`
    assets.set(relative(directory, file).split(sep).join("/"), { body, contentType, etag })
  }
  return assets
}

/**
 * The console file a request path names: `/console/` is `index.html`, `/console/<name>` is `<name>`
 * (percent-decoded). `None` for anything else, and for names that could not be a file's (`..`
 * segments, backslashes, NUL, empty segments): those get a 404 whatever the files are.
 *
 * @since 0.1.0
 * @category files
 */
export const assetName = (url: string): Option.Option<string> => {
  const requested = pathOf(url)
  if (!requested.startsWith(`${path}/`)) return Option.none()
  let name: string
  try {
    name = decodeURIComponent(requested.slice(path.length + 1))
  } catch {
    return Option.none()
  }
  if (name === "") return Option.some("index.html")
  const segments = name.split("/")
  return segments.some((s) => s === "" || s === "." || s === "..") || /[\\\0]/.test(name)
    ? Option.none()
    : Option.some(name)
}

const notFound = new Problem.NotFound({ detail: "No such file in the console" })

const etagMatches = (header: string | undefined, etag: string) =>
  header !== undefined && header.split(",").some((tag) => {
    const t = tag.trim()
    return t === "*" || t === etag || t === `W/${etag}`
  })

/**
 * The console's routes on the control API's server: `GET /console` redirects to `/console/`, and
 * `GET /console/<file>` serves a file of `directory` (default: the worker package's `console/`). No
 * token is needed for them. Without the files (a package installed without them) the worker still
 * starts, logs a warning, and answers 404.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: { readonly directory?: string | undefined } = {}) =>
  HttpApiBuilder.Router.use((router) =>
    Effect.gen(function*() {
      const directory = options.directory ?? Option.getOrUndefined(defaultDirectory())
      const assets = directory === undefined ? new Map<string, Asset>() : load(directory)
      if (!assets.has("index.html")) {
        yield* Effect.logWarning("the operator console's files are missing: /console answers 404").pipe(
          Effect.annotateLogs({ directory: directory ?? `(no ${packageName} package.json found)` })
        )
      }
      const serve = Effect.gen(function*() {
        const request = yield* HttpServerRequest.HttpServerRequest
        // The router takes `/console` and `/console/` for the same route: only the first is redirected,
        // relatively, so that it also holds behind a proxy that serves the worker under a path prefix.
        if (pathOf(request.url) === path) return HttpServerResponse.redirect("console/", { status: 308 })
        const asset = Option.flatMap(assetName(request.url), (name) => Option.fromNullable(assets.get(name)))
        if (Option.isNone(asset)) return yield* notFound
        const { body, contentType, etag } = asset.value
        const responseHeaders = { ...headers, etag }
        return etagMatches(request.headers["if-none-match"], etag)
          ? HttpServerResponse.empty({ status: 304, headers: responseHeaders })
          : HttpServerResponse.uint8Array(body, { status: 200, contentType, headers: responseHeaders })
      })
      yield* router.get(path, serve)
      yield* router.get(`${path}/*`, serve)
    })
  )
