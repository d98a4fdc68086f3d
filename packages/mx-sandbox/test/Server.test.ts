import { HttpClient, HttpClientRequest } from "@effect/platform"
import { NodeHttpClient } from "@effect/platform-node"
import { afterAll, assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Layer, Redacted, Schedule, Stream } from "effect"
import { spawn } from "node:child_process"
import { fileURLToPath } from "node:url"
import { Sandbox } from "../src/index.js"
import { makeRecorder, mxbankCredentials } from "./harness.js"

const recorder = makeRecorder()
afterAll(() => recorder.assertConformant())

/** A client for a served sandbox: its URL, its credentials, MX's Accept header. */
const mxClient = Effect.gen(function*() {
  const server = yield* Sandbox.SandboxServer
  const sandbox = yield* Sandbox.Sandbox
  const client = yield* HttpClient.HttpClient
  const { apiKey, clientId } = sandbox.credentials
  const send = (request: HttpClientRequest.HttpClientRequest) =>
    request.pipe(
      HttpClientRequest.prependUrl(server.url),
      HttpClientRequest.basicAuth(clientId, Redacted.value(apiKey)),
      HttpClientRequest.setHeader("Accept", "application/vnd.mx.api.v1+json"),
      client.execute,
      Effect.flatMap((response) =>
        Effect.map(
          response.text,
          (text) => ({ status: response.status, body: text === "" ? undefined : JSON.parse(text) })
        )
      ),
      Effect.scoped,
      Effect.orDie
    )
  return { server, sandbox, client, send }
})

/** Polls a member's status until it settles (not aggregating, or CHALLENGED). */
const settled = (send: (r: HttpClientRequest.HttpClientRequest) => Effect.Effect<any>, path: string) =>
  Effect.gen(function*() {
    for (;;) {
      const member = (yield* send(HttpClientRequest.get(`${path}/status`))).body.member
      if (!member.is_being_aggregated || member.connection_status === "CHALLENGED") return member
      yield* Effect.sleep("5 millis")
    }
  }).pipe(Effect.timeout(Duration.seconds(5)))

const served = Sandbox.layerServer({ observe: recorder.observe, timeScale: 1_000 }).pipe(
  Layer.provideMerge(NodeHttpClient.layerUndici)
)

describe("served over HTTP", () => {
  it.live("listens on a free port of 127.0.0.1 and reports its URL; a 30 s aggregation takes 30 ms at timeScale 1000", () =>
    Effect.gen(function*() {
      const { send, server } = yield* mxClient
      assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+$/)
      assert.isAbove(server.port, 0)
      const user = yield* send(
        HttpClientRequest.post("/users").pipe(HttpClientRequest.bodyUnsafeJson({ user: { id: "u" } }))
      )
      const userGuid = user.body.user.guid
      const started = Date.now()
      const member = yield* send(
        HttpClientRequest.post(`/users/${userGuid}/members`).pipe(
          HttpClientRequest.bodyUnsafeJson({
            member: { institution_code: "mxbank", credentials: mxbankCredentials("password") }
          })
        )
      )
      assert.strictEqual(member.status, 202)
      const done = yield* settled(send, `/users/${userGuid}/members/${member.body.member.guid}`)
      assert.strictEqual(done.connection_status, "CONNECTED")
      assert.isBelow(Date.now() - started, 2_000)
      // MX-time timestamps: the aggregation took 30 MX seconds.
      assert.strictEqual(Date.parse(done.successfully_aggregated_at) - Date.parse(done.aggregated_at), 30_000)
    }).pipe(Effect.provide(served)))

  it.live("refuses a wrong api key over the socket (401)", () =>
    Effect.gen(function*() {
      const { client, server } = yield* mxClient
      const response = yield* client.execute(
        HttpClientRequest.get(`${server.url}/institutions`).pipe(
          HttpClientRequest.basicAuth("sandbox-client-id", "nope")
        )
      )
      assert.strictEqual(response.status, 401)
      assert.isString((yield* response.json as Effect.Effect<any>).error.message)
    }).pipe(Effect.scoped, Effect.provide(served)))

  it.live("over the socket: a body over 1 MB gets 413 (announced or chunked), the connection serves on; basic in lowercase", () =>
    Effect.gen(function*() {
      const { client, send, server, sandbox } = yield* mxClient
      const answer = (request: HttpClientRequest.HttpClientRequest) =>
        client.execute(request.pipe(
          HttpClientRequest.prependUrl(server.url),
          HttpClientRequest.basicAuth(sandbox.credentials.clientId, Redacted.value(sandbox.credentials.apiKey))
        )).pipe(
          Effect.flatMap((response) =>
            Effect.map(response.text, (text) => ({ status: response.status, body: JSON.parse(text) }))
          ),
          Effect.scoped
        )
      const big = JSON.stringify({ user: { id: "x".repeat(2 * 1024 * 1024) } })
      const announced = yield* answer(
        HttpClientRequest.post("/users").pipe(HttpClientRequest.bodyText(big, "application/json"))
      )
      assert.strictEqual(announced.status, 413)
      assert.deepStrictEqual(announced.body, { error: { message: "The request body is larger than 1 MB." } })
      const chunk = new TextEncoder().encode(" ".repeat(64 * 1024))
      const chunked = yield* answer(
        HttpClientRequest.post("/users").pipe(
          HttpClientRequest.bodyStream(
            Stream.make(new TextEncoder().encode("{\"user\":{}}")).pipe(
              Stream.concat(Stream.make(chunk).pipe(Stream.repeat(Schedule.recurs(19))))
            ),
            { contentType: "application/json" }
          )
        )
      )
      assert.strictEqual(chunked.status, 413)
      assert.deepStrictEqual(chunked.body, { error: { message: "The request body is larger than 1 MB." } })
      const created = yield* send(
        HttpClientRequest.post("/users").pipe(HttpClientRequest.bodyUnsafeJson({ user: { id: "after" } }))
      )
      assert.strictEqual(created.status, 200)
      const token = Buffer.from(`${sandbox.credentials.clientId}:${Redacted.value(sandbox.credentials.apiKey)}`)
        .toString("base64")
      const lower = yield* client.execute(
        HttpClientRequest.get(`${server.url}/institutions`).pipe(
          HttpClientRequest.setHeader("Authorization", `basic ${token}`)
        )
      )
      assert.strictEqual(lower.status, 200)
    }).pipe(Effect.scoped, Effect.provide(served)))

  it.live("an OAuth member's oauth_window_uri points at the server; opening it connects the member", () =>
    Effect.gen(function*() {
      const { client, send, server } = yield* mxClient
      const user = yield* send(
        HttpClientRequest.post("/users").pipe(HttpClientRequest.bodyUnsafeJson({ user: { id: "o" } }))
      )
      const userGuid = user.body.user.guid
      const created = yield* send(
        HttpClientRequest.post(`/users/${userGuid}/members`).pipe(
          HttpClientRequest.bodyUnsafeJson({ member: { institution_code: "mxbank_oauth", is_oauth: true } })
        )
      )
      const member = created.body.member
      assert.isTrue(member.oauth_window_uri.startsWith(`${server.url}/oauth/authorize?`))
      const opened = yield* client.execute(HttpClientRequest.get(member.oauth_window_uri))
      assert.strictEqual(opened.status, 200)
      const done = yield* settled(send, `/users/${userGuid}/members/${member.guid}`)
      assert.strictEqual(done.connection_status, "CONNECTED")
    }).pipe(Effect.scoped, Effect.provide(served)))

  it.live("the command prints its URL and the credentials table, and serves", () =>
    Effect.gen(function*() {
      const bin = fileURLToPath(new URL("../src/bin.ts", import.meta.url))
      const child = spawn(process.execPath, ["--import", "tsx", bin, "--port", "0", "--demo", "1"], {
        cwd: fileURLToPath(new URL("..", import.meta.url)),
        stdio: ["ignore", "pipe", "pipe"]
      })
      yield* Effect.addFinalizer(() => Effect.sync(() => child.kill("SIGTERM")))
      const output = yield* Effect.async<string, Error>((resume) => {
        let text = ""
        child.stdout.on("data", (chunk) => {
          text += String(chunk)
          if (text.includes("Demo user")) resume(Effect.succeed(text))
        })
        child.on("exit", (code) => resume(Effect.fail(new Error(`exited ${code}: ${text}`))))
      }).pipe(Effect.timeout(Duration.seconds(20)))
      const url = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(output)?.[1]
      assert.isString(url)
      assert.include(output, "client_id: sandbox-client-id")
      assert.include(output, "api_key: sandbox-api-key")
      for (
        const password of ["challenge", "options", "image", "BAD_REQUEST", "UNAUTHORIZED", "DELAYED", "SERVER_ERROR"]
      ) {
        assert.include(output, password)
      }
      const client = yield* HttpClient.HttpClient
      const response = yield* client.execute(
        HttpClientRequest.get(`${url}/users`).pipe(
          HttpClientRequest.basicAuth("sandbox-client-id", "sandbox-api-key"),
          HttpClientRequest.acceptJson
        )
      )
      assert.strictEqual(response.status, 200)
      const body = (yield* response.json) as any
      assert.strictEqual(body.users[0].id, "demo-user-1")
    }).pipe(Effect.scoped, Effect.provide(NodeHttpClient.layerUndici)), 30_000)
})
