/**
 * HTTPS on the worker's listeners: the daemon (`Daemon.MainLive`, as `npm start` runs it) given
 * `WORKER_TLS_CERT_FILE` / `WORKER_TLS_KEY_FILE` serves its control API and its MX webhook listener
 * over TLS with that certificate, and no plain HTTP on those ports. A certificate made for the test by
 * `openssl` is the only one the client trusts. Files that are missing, unreadable or not a matching
 * pair stop start-up with a message naming the variable.
 */
import { assert, describe, it } from "@effect/vitest"
import { Tls, WebhookListener, WorkerConfig } from "@mx-aggregation/worker"
import { MainLive } from "@mx-aggregation/worker/Daemon"
import { ConfigProvider, Context, Effect, Either, Exit, Layer, Option } from "effect"
import { execFile } from "node:child_process"
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { connect } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Agent, request } from "undici"
import { freePort } from "../support/freePort.js"
import { eventually } from "../worker/harness.js"

/** A temporary directory, removed with the scope. */
const tempDir = Effect.acquireRelease(
  Effect.sync(() => mkdtempSync(join(tmpdir(), "mx-tls-"))),
  (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
)

/** A self-signed certificate for 127.0.0.1 and its key, made by `openssl` in `dir` under `name`. */
const certificate = (dir: string, name: string) =>
  Effect.async<{ readonly certFile: string; readonly keyFile: string }, Error>((resume) => {
    const certFile = join(dir, `${name}.cert.pem`)
    const keyFile = join(dir, `${name}.key.pem`)
    execFile(
      "openssl",
      [
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-subj",
        "/CN=127.0.0.1",
        "-addext",
        "subjectAltName=IP:127.0.0.1",
        "-days",
        "1",
        "-keyout",
        keyFile,
        "-out",
        certFile
      ],
      (error) => resume(error === null ? Effect.succeed({ certFile, keyFile }) : Effect.fail(error))
    )
  })

/** What a client that is not speaking TLS gets back from the port: the bytes, until the server closes. */
const plainHttp = (port: number) =>
  Effect.async<string>((resume) => {
    const chunks: Array<Buffer> = []
    const socket = connect(port, "127.0.0.1", () => {
      socket.write("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    })
    socket.on("data", (chunk: Buffer) => chunks.push(chunk))
    socket.on("error", () => undefined)
    socket.on("close", () => resume(Effect.succeed(Buffer.concat(chunks).toString("latin1"))))
    socket.setTimeout(20_000, () => socket.destroy())
  })

const token = "tls-test-token-0123456789abcdef0123456789"
const webhookUser = "mx"
const webhookPassword = "tls-test-webhook-password-0123456789"

/** The daemon, from the environment `env` only (nothing of the test process's own environment). */
const daemon = (env: Record<string, string>) =>
  Layer.build(MainLive).pipe(
    Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env))))
  )

describe("TLS on the worker's listeners", () => {
  it.live(
    "the daemon serves its control API and webhook listener over HTTPS with the given certificate, not plain HTTP",
    () =>
      Effect.gen(function*() {
        const dir = yield* tempDir
        const files = yield* certificate(dir, "worker")
        const [apiPort, webhookPort] = [yield* freePort, yield* freePort]
        yield* daemon({
          SQLITE_FILE: join(dir, "worker.db"),
          WORKER_PORT: String(apiPort),
          WORKER_API_TOKEN: token,
          WORKER_DEMO_MEMBERS: "1",
          WORKER_TLS_CERT_FILE: files.certFile,
          WORKER_TLS_KEY_FILE: files.keyFile,
          WORKER_WEBHOOKS: "true",
          WORKER_WEBHOOK_PORT: String(webhookPort),
          WORKER_WEBHOOK_USERNAME: webhookUser,
          WORKER_WEBHOOK_PASSWORD: webhookPassword
        })
        const trusting = yield* Effect.acquireRelease(
          Effect.sync(() => new Agent({ connect: { ca: readFileSync(files.certFile, "utf8") } })),
          (agent) => Effect.promise(() => agent.close())
        )
        const call = (url: string, options: { method?: "GET" | "POST"; headers?: Record<string, string> } = {}) =>
          Effect.tryPromise(async () => {
            const response = await request(url, {
              dispatcher: trusting,
              method: options.method ?? "GET",
              ...(options.headers === undefined ? {} : { headers: options.headers }),
              ...(options.method === "POST" ? { body: JSON.stringify({ type: "X", member_guid: "MBR-1" }) } : {})
            })
            await response.body.text()
            return response.statusCode
          })

        assert.strictEqual(yield* call(`https://127.0.0.1:${apiPort}/health`), 200)
        assert.strictEqual(
          yield* call(`https://127.0.0.1:${apiPort}/members`, { headers: { authorization: `Bearer ${token}` } }),
          200
        )
        const basic = `Basic ${Buffer.from(`${webhookUser}:${webhookPassword}`).toString("base64")}`
        const hook = `https://127.0.0.1:${webhookPort}/webhooks/mx`
        assert.strictEqual(
          yield* call(hook, { method: "POST", headers: { authorization: basic, "content-type": "application/json" } }),
          204
        )
        assert.strictEqual(yield* call(hook, { method: "POST" }), 401)

        // A client that does not trust the certificate cannot talk to it: it is TLS with that certificate.
        const untrusted = yield* Effect.either(
          Effect.tryPromise(() => request(`https://127.0.0.1:${apiPort}/health`).then((r) => r.body.text()))
        )
        assert.isTrue(Either.isLeft(untrusted), "a certificate the client does not trust is refused")

        for (const port of [apiPort, webhookPort]) {
          const answer = yield* plainHttp(port)
          assert.notMatch(answer, /^HTTP\/1\.[01] /, `no plain HTTP on port ${port}`)
        }
      }).pipe(Effect.scoped),
    120_000
  )

  it.live(
    "without TLS files the listeners serve plain HTTP (the default, for loopback or a proxy); the demo's sandbox delivers its webhooks to the listener",
    () =>
      Effect.gen(function*() {
        const dir = yield* tempDir
        const [apiPort, webhookPort] = [yield* freePort, yield* freePort]
        const context = yield* daemon({
          SQLITE_FILE: join(dir, "worker.db"),
          WORKER_PORT: String(apiPort),
          WORKER_API_TOKEN: token,
          WORKER_DEMO_MEMBERS: "2",
          WORKER_WEBHOOKS: "true",
          WORKER_WEBHOOK_PORT: String(webhookPort),
          WORKER_WEBHOOK_USERNAME: webhookUser,
          WORKER_WEBHOOK_PASSWORD: webhookPassword
        })
        assert.match(yield* plainHttp(apiPort), /^HTTP\/1\.1 200 /)
        const listener = Option.getOrThrow(Context.getOption(context, WebhookListener.WebhookListener))
        yield* eventually(
          "a webhook of the demo's sandbox handled",
          Effect.map(listener.handled, (n) => (n > 0 ? Option.some(n) : Option.none())),
          "60 seconds"
        )
      }).pipe(Effect.scoped),
    120_000
  )

  it.effect("WORKER_TLS_CERT_FILE and WORKER_TLS_KEY_FILE go together", () =>
    Effect.gen(function*() {
      for (
        const [set, missing] of [["WORKER_TLS_CERT_FILE", "WORKER_TLS_KEY_FILE"], [
          "WORKER_TLS_KEY_FILE",
          "WORKER_TLS_CERT_FILE"
        ]] as const
      ) {
        const config = yield* Effect.either(
          Effect.withConfigProvider(WorkerConfig.config, ConfigProvider.fromMap(new Map([[set, "/some/file.pem"]])))
        )
        assert(Either.isLeft(config))
        assert.include(String(config.left), missing)
      }
      const both = yield* Effect.withConfigProvider(
        WorkerConfig.config,
        ConfigProvider.fromMap(new Map([["WORKER_TLS_CERT_FILE", "/c.pem"], ["WORKER_TLS_KEY_FILE", "/k.pem"]]))
      )
      assert.deepStrictEqual(both.tls, Option.some({ certFile: "/c.pem", keyFile: "/k.pem" }))
    }))

  it.live(
    "missing, unreadable or mismatched files are a start-up error naming the variable",
    () =>
      Effect.gen(function*() {
        const dir = yield* tempDir
        const one = yield* certificate(dir, "one")
        const other = yield* certificate(dir, "other")
        const garbage = join(dir, "garbage.pem")
        writeFileSync(garbage, "not a certificate")
        const locked = join(dir, "locked.pem")
        writeFileSync(locked, readFileSync(one.keyFile))
        chmodSync(locked, 0o000)
        const unreadableForUs = process.getuid?.() !== 0
        const cases: Array<readonly [Tls.Files, string]> = [
          [{ certFile: join(dir, "missing.pem"), keyFile: one.keyFile }, "WORKER_TLS_CERT_FILE"],
          [{ certFile: one.certFile, keyFile: join(dir, "missing.pem") }, "WORKER_TLS_KEY_FILE"],
          [{ certFile: garbage, keyFile: one.keyFile }, "WORKER_TLS_CERT_FILE"],
          [{ certFile: one.certFile, keyFile: other.keyFile }, "WORKER_TLS_KEY_FILE"],
          ...(unreadableForUs ? [[{ certFile: one.certFile, keyFile: locked }, "WORKER_TLS_KEY_FILE"] as const] : [])
        ]
        for (const [files, variable] of cases) {
          const loaded = yield* Effect.either(Tls.load(files))
          assert(Either.isLeft(loaded), JSON.stringify(files))
          assert.include(loaded.left.message, variable, JSON.stringify(files))
          assert.notInclude(loaded.left.message, "PRIVATE KEY")
        }
        const good = yield* Tls.load(one)
        assert.include(String(good.key), "<redacted>")
        assert.notInclude(JSON.stringify(good), "PRIVATE KEY")

        // The daemon stops before it listens, with that message.
        const apiPort = yield* freePort
        const exit = yield* Effect.exit(Effect.scoped(daemon({
          SQLITE_FILE: join(dir, "worker.db"),
          WORKER_PORT: String(apiPort),
          WORKER_TLS_CERT_FILE: join(dir, "missing.pem"),
          WORKER_TLS_KEY_FILE: one.keyFile
        })))
        assert(Exit.isFailure(exit))
        assert.include(String(exit.cause), "WORKER_TLS_CERT_FILE")
        assert.include(String(exit.cause), "missing.pem")
        assert.strictEqual(yield* plainHttp(apiPort), "", "nothing listens")
      }).pipe(Effect.scoped),
    60_000
  )
})
