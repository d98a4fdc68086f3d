/**
 * The operator console's files and routes: the worker package's `console/` directory is found from
 * the source tree and from a compiled layout; each file is served with its content type, the strict
 * Content Security Policy and revalidation headers; `/console` redirects to `/console/`; any path that
 * is not one of the files (traversal, encoded or not) is a 404 problem; a missing directory is a
 * warning and 404s, not a crash. The pages themselves hold no inline script or style (the policy would
 * block them) and import only files that exist.
 */
import { HttpApi, HttpApiBuilder, HttpServer } from "@effect/platform"
import { assert, describe, it } from "@effect/vitest"
import { Listener, OperatorConsole, ProblemResponses } from "@mx-aggregation/worker"
import { Context, Effect, Layer, Logger, LogLevel, Option } from "effect"
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { request } from "node:http"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"

const workerRoot = fileURLToPath(new URL("../", import.meta.url))
const consoleDirectory = join(workerRoot, "console")

/** A temporary directory, removed with the scope. */
const tempDir = Effect.acquireRelease(
  Effect.sync(() => mkdtempSync(join(tmpdir(), "mx-console-"))),
  (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
)

/** The console's routes on a server of their own (port 0), with the API's problem responses. */
const serve = (directory: string, logs: Array<string> = []) =>
  Effect.gen(function*() {
    const context = yield* Layer.build(
      HttpApiBuilder.serve().pipe(
        Layer.provide(OperatorConsole.layer({ directory })),
        Layer.provide(ProblemResponses.layer),
        Layer.provide(HttpApiBuilder.api(HttpApi.make("console-test"))),
        Layer.provideMerge(Listener.layer({ port: 0, host: "127.0.0.1" })),
        Layer.provide(Logger.add(Logger.make((options) => void logs.push(Logger.logfmtLogger.log(options))))),
        Layer.provide(Logger.minimumLogLevel(LogLevel.All))
      )
    )
    return (Context.get(context, HttpServer.HttpServer).address as HttpServer.TcpAddress).port
  })

interface Answer {
  readonly status: number
  readonly headers: Readonly<Record<string, string | Array<string> | undefined>>
  readonly body: string
}

/** A GET of `path` exactly as written (Node's client sends it unnormalised: `..` and `%2e` stay). */
const get = (port: number, path: string, headers: Record<string, string> = {}) =>
  Effect.async<Answer, Error>((resume) => {
    const req = request({ host: "127.0.0.1", port, path, method: "GET", headers }, (response) => {
      const chunks: Array<Buffer> = []
      response.on("data", (chunk: Buffer) => chunks.push(chunk))
      response.on("end", () =>
        resume(Effect.succeed({
          status: response.statusCode ?? 0,
          headers: response.headers,
          body: Buffer.concat(chunks).toString("utf8")
        })))
    })
    req.on("error", (error) => resume(Effect.fail(error)))
    req.end()
  })

describe("OperatorConsole", () => {
  it("finds the worker package's console/ directory from src/ and from a compiled layout", () => {
    assert.deepStrictEqual(OperatorConsole.packageRoot(), Option.some(workerRoot.replace(/\/$/, "")))
    assert.deepStrictEqual(OperatorConsole.defaultDirectory(), Option.some(consoleDirectory))
    const dir = mkdtempSync(join(tmpdir(), "mx-console-root-"))
    try {
      writeFileSync(join(dir, "package.json"), JSON.stringify({ name: OperatorConsole.packageName }))
      mkdirSync(join(dir, "build", "src"), { recursive: true })
      mkdirSync(join(dir, "other"), { recursive: true })
      writeFileSync(join(dir, "other", "package.json"), JSON.stringify({ name: "something-else" }))
      const compiled = join(dir, "build", "src", "OperatorConsole.js")
      assert.deepStrictEqual(OperatorConsole.packageRoot(compiled), Option.some(dir))
      assert.deepStrictEqual(OperatorConsole.packageRoot(`file://${compiled}`), Option.some(dir))
      // A package.json of another name is walked past.
      assert.deepStrictEqual(OperatorConsole.packageRoot(join(dir, "other", "x.js")), Option.some(dir))
      assert.deepStrictEqual(OperatorConsole.packageRoot(join(tmpdir(), "nowhere", "x.js")), Option.none())
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it("a packed worker package would include console/", () => {
    const manifest = JSON.parse(readFileSync(join(workerRoot, "package.json"), "utf8")) as { files?: Array<string> }
    // Without `files`, npm packs every file; with it, console/ must be listed.
    if (manifest.files !== undefined) {
      assert.isTrue(manifest.files.some((f) => /^\.?\/?console\/?(\*\*)?$/.test(f)), JSON.stringify(manifest.files))
    }
    assert.isTrue(readdirSync(consoleDirectory).includes("index.html"))
  })

  it("names a file only for /console/<name>, and never a path that leaves the directory", () => {
    const name = (url: string) => Option.getOrNull(OperatorConsole.assetName(url))
    assert.strictEqual(name("/console/"), "index.html")
    assert.strictEqual(name("/console/app.js"), "app.js")
    assert.strictEqual(name("/console/app.js?v=2#x"), "app.js")
    assert.strictEqual(name("/console/views/a%20b.js"), "views/a b.js")
    for (
      const url of [
        "/console",
        "/consoleX/app.js",
        "/other/app.js",
        "/console/../package.json",
        "/console/..%2fpackage.json",
        "/console/%2e%2e/package.json",
        "/console/./app.js",
        "/console//etc/passwd",
        "/console/a/../../x",
        "/console/..\\package.json",
        "/console/%5c..%5cpackage.json",
        "/console/app.js%00.png",
        "/console/%E0%A4%A"
      ]
    ) {
      assert.isNull(name(url), url)
    }
  })

  it("loads the files it can serve, by relative path, with their content type and an ETag", () => {
    const dir = mkdtempSync(join(tmpdir(), "mx-console-load-"))
    try {
      mkdirSync(join(dir, "nested"))
      writeFileSync(join(dir, "index.html"), "<!DOCTYPE html>")
      writeFileSync(join(dir, "nested", "a.js"), "export {}")
      writeFileSync(join(dir, "notes.md"), "not served")
      const assets = OperatorConsole.load(dir)
      assert.deepStrictEqual([...assets.keys()].sort(), ["index.html", "nested/a.js"])
      assert.strictEqual(assets.get("nested/a.js")!.contentType, "text/javascript; charset=utf-8")
      assert.match(assets.get("index.html")!.etag, /^"[A-Za-z0-9_-]{27}"$/)
      assert.strictEqual(OperatorConsole.load(join(dir, "missing")).size, 0)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it.live("serves each file with its content type, the CSP and revalidation; 304 on a matching ETag", () =>
    Effect.gen(function*() {
      const port = yield* serve(consoleDirectory)
      const expected: Record<string, string> = {
        "/console/": "text/html; charset=utf-8",
        "/console/index.html": "text/html; charset=utf-8",
        "/console/app.js": "text/javascript; charset=utf-8",
        "/console/console.css": "text/css; charset=utf-8"
      }
      for (const [path, contentType] of Object.entries(expected)) {
        const answer = yield* get(port, path)
        assert.strictEqual(answer.status, 200, path)
        assert.strictEqual(answer.headers["content-type"], contentType, path)
        assert.strictEqual(
          answer.headers["content-security-policy"],
          "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
            "form-action 'none'; base-uri 'none'; frame-ancestors 'none'",
          path
        )
        assert.strictEqual(answer.headers["x-content-type-options"], "nosniff", path)
        assert.strictEqual(answer.headers["x-frame-options"], "DENY", path)
        assert.strictEqual(answer.headers["referrer-policy"], "no-referrer", path)
        assert.strictEqual(answer.headers["cache-control"], "no-cache", path)
        const etag = answer.headers["etag"] as string
        assert.match(etag, /^"[A-Za-z0-9_-]+"$/, path)
        const again = yield* get(port, path, { "if-none-match": etag })
        assert.strictEqual(again.status, 304, path)
        assert.strictEqual(again.body, "", path)
        assert.strictEqual((yield* get(port, path, { "if-none-match": "\"stale\"" })).status, 200, path)
      }
      const index = yield* get(port, "/console/")
      assert.strictEqual(index.body, readFileSync(join(consoleDirectory, "index.html"), "utf8"))
      const redirect = yield* get(port, "/console")
      assert.strictEqual(redirect.status, 308)
      assert.strictEqual(redirect.headers["location"], "console/")
    }).pipe(Effect.scoped))

  it.live("a path outside the console's files is a 404 problem, however it is written", () =>
    Effect.gen(function*() {
      const port = yield* serve(consoleDirectory)
      const secret = readFileSync(join(workerRoot, "package.json"), "utf8")
      for (
        const path of [
          "/console/../package.json",
          "/console/../../package.json",
          "/console/..%2fpackage.json",
          "/console/%2e%2e/package.json",
          "/console/%2e%2e%2f%2e%2e%2fpackage.json",
          "/console/..%5cpackage.json",
          "/console//etc/passwd",
          "/console/x/../../src/main.ts",
          "/console/index.html%00",
          "/console/nope.js",
          "/console/OperatorConsole.ts"
        ]
      ) {
        const answer = yield* get(port, path)
        assert.strictEqual(answer.status, 404, path)
        assert.strictEqual(answer.headers["content-type"], "application/problem+json", path)
        assert.notInclude(answer.body, secret.slice(0, 40), path)
      }
    }).pipe(Effect.scoped))

  it.live("without its files the console answers 404 and a warning is logged; the server still runs", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const logs: Array<string> = []
      const port = yield* serve(join(dir, "missing"), logs)
      assert.strictEqual((yield* get(port, "/console/")).status, 404)
      assert.isTrue(logs.some((line) => line.includes("operator console's files are missing")), logs.join("\n"))
    }).pipe(Effect.scoped))

  it("the pages hold no inline script, style or handler, and every file they load exists", () => {
    const files = readdirSync(consoleDirectory)
    const html = readFileSync(join(consoleDirectory, "index.html"), "utf8")
    assert.notMatch(html, /<script(?![^>]*\ssrc=)[^>]*>/i, "a script without src is inline")
    assert.notMatch(html, /<style/i)
    assert.notMatch(html, /\sstyle=/i)
    assert.notMatch(html, /\son[a-z]+=/i)
    assert.notMatch(html, /https?:\/\//i, "nothing from another origin (no CDN)")
    for (const [, source] of html.matchAll(/(?:src|href)="([^"#:]+)"/g)) assert.include(files, source)
    for (const file of files.filter((f) => f.endsWith(".js"))) {
      const code = readFileSync(join(consoleDirectory, file), "utf8")
      // Data from the API goes in as text, never parsed as HTML or code.
      assert.notMatch(code, /innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function/, file)
      assert.notMatch(code, /localStorage\.|document\.cookie/, `${file}: the token stays in sessionStorage`)
      for (const [, imported] of code.matchAll(/from "\.\/([^"]+)"/g)) assert.include(files, imported, file)
    }
  })
})
