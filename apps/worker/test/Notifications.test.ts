/**
 * Partner notifications against a receiving server on 127.0.0.1 and a fresh store: every event once,
 * in order per member, signed; retried through 500s and refused connections without losing or
 * reordering anything; nothing secret in the bodies.
 */
import { NodeHttpClient } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Member } from "@mx-aggregation/domain"
import { Outbox, TestDatabase } from "@mx-aggregation/store"
import * as Notifications from "@mx-aggregation/worker/Notifications"
import { ConfigProvider, Effect, Exit, FastCheck, Layer, Option, Redacted, Schedule, Schema } from "effect"
import { createHmac } from "node:crypto"
import { createServer, type IncomingMessage } from "node:http"
import type { AddressInfo } from "node:net"

const secret = Redacted.make("notify-secret-4f1d2c9a7b")

/** One request the receiver got, and what it answered. */
interface Received {
  readonly body: string
  readonly headers: IncomingMessage["headers"]
  readonly notification: Notifications.Notification
  readonly status: number
}

/**
 * A receiving server: answers each request with `respond(notification)` (a status) and records it.
 * `respond` can be swapped while it runs.
 */
const receiver = (
  initial: (notification: Notifications.Notification) => number = () => 200,
  delayMillis: (notification: Notifications.Notification) => number = () => 0
) =>
  Effect.acquireRelease(
    Effect.async<{
      readonly url: string
      readonly requests: Array<Received>
      respond: (notification: Notifications.Notification) => number
      close: () => Promise<void>
    }>((resume) => {
      const state = {
        url: "",
        requests: [] as Array<Received>,
        respond: initial,
        close: () => new Promise<void>((done) => server.close(() => done()))
      }
      const decode = Schema.decodeUnknownSync(Schema.parseJson(Notifications.Notification))
      const server = createServer((req, res) => {
        const chunks: Array<Buffer> = []
        req.on("data", (chunk: Buffer) => chunks.push(chunk))
        req.on("end", () => {
          const body = Buffer.concat(chunks).toString("utf8")
          const notification = decode(body)
          const status = state.respond(notification)
          setTimeout(() => {
            state.requests.push({ body, headers: req.headers, notification, status })
            res.writeHead(status, { "content-type": "text/plain" }).end(status === 200 ? "ok" : "no")
          }, delayMillis(notification))
        })
      })
      server.listen(0, "127.0.0.1", () => {
        state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/mx-aggregation`
        resume(Effect.succeed(state))
      })
    }),
    (state) => Effect.promise(() => state.close())
  )

/** A fresh outbox on a fresh database, and an HTTP client. */
const env = (kind: TestDatabase.Kind = "sqlite") =>
  Layer.mergeAll(
    Outbox.layer.pipe(Layer.provide(TestDatabase.layer(kind))),
    NodeHttpClient.layerUndici
  )

/** Retries fast, so that tests take milliseconds. */
const fastRetry = Notifications.makeRetrySchedule({ base: "5 millis", cap: "20 millis", maxRetries: 2 })

const options = (url: string, extra: Partial<Notifications.Options> = {}): Notifications.Options => ({
  url,
  secret,
  batchSize: 4,
  pollInterval: "20 millis",
  retry: fastRetry,
  concurrency: 2,
  requestTimeout: "2 seconds",
  ...extra
})

/** Retries `check` every 10 ms until it holds, for at most 10 s. */
const eventually = <R = never>(label: string, check: () => boolean | Effect.Effect<boolean, unknown, R>) =>
  Effect.suspend(() => {
    const result = check()
    return typeof result === "boolean" ? Effect.succeed(result) : result
  }).pipe(
    Effect.filterOrFail((ok) => ok, () => "pending" as const),
    Effect.retry({ schedule: Schedule.spaced("10 millis"), while: (e) => e === "pending" }),
    Effect.timeoutFail({ duration: "10 seconds", onTimeout: () => new Error(`timed out waiting for ${label}`) })
  )

const member = (n: number) => Member.MemberGuid.make(`MBR-${n}`)
const user = Member.UserGuid.make("USR-1")

/** Appends `rounds` events for each member, interleaved (m0, m1, m2, m0, …); returns their ids by member. */
const appendEvents = (members: number, rounds: number, from = 0) =>
  Effect.gen(function*() {
    const outbox = yield* Outbox.Outbox
    const ids = new Map<string, Array<number>>()
    for (let round = from; round < from + rounds; round++) {
      for (let m = 0; m < members; m++) {
        const event = yield* outbox.append({
          memberGuid: member(m),
          userGuid: user,
          type: round % 2 === 0 ? "mfa_required" : "data_updated",
          payload: { round, challenges: [{ guid: `CHL-${round}`, type: "TEXT", label: "What is your pet's name?" }] }
        })
        ids.set(event.memberGuid, [...(ids.get(event.memberGuid) ?? []), event.id])
      }
    }
    return ids
  })

const mergeIds = (a: Map<string, Array<number>>, b: Map<string, Array<number>>) =>
  new Map([...new Set([...a.keys(), ...b.keys()])].map((k) => [k, [...(a.get(k) ?? []), ...(b.get(k) ?? [])]]))

/** Accepted (2xx) event ids by member, in the order the receiver accepted them. */
const acceptedByMember = (requests: ReadonlyArray<Received>) => {
  const result = new Map<string, Array<number>>()
  for (const r of requests) {
    if (r.status !== 200) continue
    result.set(r.notification.member_guid, [...(result.get(r.notification.member_guid) ?? []), r.notification.id])
  }
  return result
}

/** Every request for an event came after every earlier event of its member had been accepted. */
const assertNoOvertaking = (requests: ReadonlyArray<Received>) => {
  const accepted = new Map<string, Set<number>>()
  const seen = new Map<string, Set<number>>()
  for (const r of requests) {
    const m = r.notification.member_guid
    const acceptedOfMember = accepted.get(m) ?? new Set()
    for (const earlier of seen.get(m) ?? new Set()) {
      if (earlier < r.notification.id) {
        assert.isTrue(
          acceptedOfMember.has(earlier),
          `event ${r.notification.id} of ${m} sent before ${earlier} delivered`
        )
      }
    }
    seen.set(m, (seen.get(m) ?? new Set()).add(r.notification.id))
    if (r.status === 200) accepted.set(m, acceptedOfMember.add(r.notification.id))
  }
}

const undeliveredCount = Effect.flatMap(Outbox.Outbox, (o) => o.undelivered()).pipe(Effect.map((e) => e.length))

const sorted = (m: Map<string, Array<number>>) => [...m.entries()].sort(([a], [b]) => a.localeCompare(b))

describe("Notifications", () => {
  for (const kind of TestDatabase.kinds) {
    it.live(`every event once, in order per member, signed, marked delivered (${kind})`, () =>
      Effect.gen(function*() {
        // Earlier events take longer to answer: sending a member's events concurrently would reorder them.
        const server = yield* receiver(() => 200, (n) => Math.max(0, 30 - n.id))
        const first = yield* appendEvents(3, 5)
        yield* Layer.build(Notifications.layer(options(server.url)))
        // Events appended while the loop runs are delivered too.
        const second = yield* appendEvents(3, 3, 5)
        const expected = mergeIds(first, second)
        yield* eventually("every event delivered", () => server.requests.length >= 24)
        yield* eventually("the outbox drained", () => Effect.map(undeliveredCount, (n) => n === 0))

        assert.strictEqual(server.requests.length, 24, "each event sent once (no failure, no resend)")
        assert.deepStrictEqual(sorted(acceptedByMember(server.requests)), sorted(expected))
        assertNoOvertaking(server.requests)
        for (const r of server.requests) {
          assert.isTrue(
            Notifications.verifySignature(secret, r.body, r.headers["x-mx-aggregation-signature"] as string),
            "valid signature"
          )
          assert.isFalse(
            Notifications.verifySignature("another secret", r.body, r.headers["x-mx-aggregation-signature"] as string)
          )
          assert.strictEqual(r.headers["x-mx-aggregation-event-id"], String(r.notification.id))
          assert.strictEqual(r.headers["x-mx-aggregation-event-type"], r.notification.type)
          assert.match(r.headers["content-type"] ?? "", /^application\/json/)
          assert.strictEqual(r.notification.user_guid, "USR-1")
          assert.isFalse(Number.isNaN(Date.parse(r.notification.created_at)))
        }
      }).pipe(Effect.scoped, Effect.provide(env(kind))))
  }

  it.live("while the receiver answers 500, events are retried and none is lost or reordered", () =>
    Effect.gen(function*() {
      let failuresLeft = 15
      const server = yield* receiver(() => failuresLeft-- > 0 ? 500 : 200)
      const expected = yield* appendEvents(4, 4)
      // One batch holds every member's events: a member whose event fails must not go on to the next.
      yield* Layer.build(Notifications.layer(options(server.url, { batchSize: 100 })))
      yield* eventually("the outbox drained", () => Effect.map(undeliveredCount, (n) => n === 0))

      assert.strictEqual(server.requests.filter((r) => r.status === 500).length, 15, "the 500s were received")
      const accepted = server.requests.filter((r) => r.status === 200)
      assert.strictEqual(accepted.length, 16, "every event accepted exactly once")
      assert.deepStrictEqual(sorted(acceptedByMember(server.requests)), sorted(expected))
      assertNoOvertaking(server.requests)
    }).pipe(Effect.scoped, Effect.provide(env())))

  it.live("an event that keeps failing blocks only its member, and is delivered on a later pass", () =>
    Effect.gen(function*() {
      let blocked = true
      const server = yield* receiver((n) => blocked && n.member_guid === "MBR-1" ? 503 : 200)
      const expected = yield* appendEvents(3, 3)
      yield* Layer.build(Notifications.layer(options(server.url)))
      yield* eventually("the other members delivered", () => {
        const accepted = acceptedByMember(server.requests)
        return accepted.get("MBR-0")?.length === 3 && accepted.get("MBR-2")?.length === 3
      })
      // Retried within a pass (3 attempts) and again on later passes.
      const firstOfBlocked = expected.get("MBR-1")![0]!
      yield* eventually(
        "the blocked event retried over several passes",
        () => server.requests.filter((r) => r.notification.id === firstOfBlocked).length >= 7
      )
      const blockedRequests = server.requests.filter((r) => r.notification.member_guid === "MBR-1")
      assert.isTrue(blockedRequests.every((r) => r.notification.id === firstOfBlocked), "later events held back")
      const undeliveredIds = Effect.flatMap(Outbox.Outbox, (o) => o.undelivered()).pipe(
        Effect.map((events) => events.map((e) => e.id))
      )
      yield* eventually(
        "the other members marked delivered",
        () => Effect.map(undeliveredIds, (ids) => ids.length === expected.get("MBR-1")!.length)
      )
      assert.deepStrictEqual(yield* undeliveredIds, expected.get("MBR-1"))

      blocked = false
      yield* eventually("the outbox drained", () => Effect.map(undeliveredCount, (n) => n === 0))
      assert.deepStrictEqual(sorted(acceptedByMember(server.requests)), sorted(expected))
      assertNoOvertaking(server.requests)
    }).pipe(Effect.scoped, Effect.provide(env())))

  it.live("no answer (connection refused, timeout): nothing is marked delivered", () =>
    Effect.gen(function*() {
      const closed = yield* receiver()
      yield* Effect.promise(() => closed.close())
      yield* appendEvents(2, 2)
      const refused = yield* Notifications.deliverPending(options(closed.url))
      assert.deepStrictEqual(refused, { delivered: 0, blockedMembers: 2, full: true })
      assert.strictEqual(yield* undeliveredCount, 4)

      const slow = yield* Effect.acquireRelease(
        Effect.async<{ url: string; close: () => void }>((resume) => {
          const server = createServer(() => {/* never answers */})
          server.listen(0, "127.0.0.1", () =>
            resume(Effect.succeed({
              url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
              close: () => {
                server.closeAllConnections()
                server.close()
              }
            })))
        }),
        (s) => Effect.sync(s.close)
      )
      const timedOut = yield* Notifications.deliverPending(
        options(slow.url, { requestTimeout: "50 millis", retry: Schedule.stop })
      )
      assert.deepStrictEqual(timedOut, { delivered: 0, blockedMembers: 2, full: true })
      assert.strictEqual(yield* undeliveredCount, 4)
    }).pipe(Effect.scoped, Effect.provide(env())))

  it.live("bodies carry the event and nothing secret", () =>
    Effect.gen(function*() {
      const server = yield* receiver()
      const outbox = yield* Outbox.Outbox
      const password = "hunter2-credential-value"
      const answer = "mfa-answer-blue-42"
      yield* outbox.append({
        memberGuid: member(7),
        userGuid: null,
        type: "credentials_required",
        payload: {
          message: "New credentials are needed",
          // A Redacted value that slipped into a payload is stored, and sent, as "<redacted>".
          leaked: [Redacted.make(password), Redacted.make(answer)]
        }
      })
      const result = yield* Notifications.deliverPending(options(server.url))
      assert.strictEqual(result.delivered, 1)
      const [request] = server.requests
      assert.deepStrictEqual(JSON.parse(request!.body), {
        id: request!.notification.id,
        type: "credentials_required",
        member_guid: "MBR-7",
        user_guid: null,
        created_at: request!.notification.created_at,
        payload: { message: "New credentials are needed", leaked: ["<redacted>", "<redacted>"] }
      })
      for (const value of [password, answer, Redacted.value(secret)]) {
        assert.notInclude(request!.body, value)
        assert.notInclude(JSON.stringify(request!.headers), value)
      }
    }).pipe(Effect.scoped, Effect.provide(env())))
})

describe("verifySignature", () => {
  it("matches HMAC-SHA256 (RFC 4231 test case 2)", () => {
    const header = "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    assert.strictEqual(Notifications.sign("Jefe", "what do ya want for nothing?"), header)
    assert.isTrue(Notifications.verifySignature("Jefe", "what do ya want for nothing?", header))
    assert.isTrue(
      Notifications.verifySignature(
        Redacted.make("Jefe"),
        "what do ya want for nothing?",
        header.toUpperCase().replace("SHA256", "sha256")
      )
    )
  })

  it("refuses missing, malformed, truncated and foreign signatures", () => {
    const body = "{\"id\":1}"
    const good = Notifications.sign(secret, body)
    for (
      const header of [
        undefined,
        null,
        "",
        "sha256=",
        good.slice(0, -2),
        `sha1=${good.slice(7)}`,
        `${good}00`,
        good.slice(7)
      ]
    ) {
      assert.isFalse(Notifications.verifySignature(secret, body, header), String(header))
    }
  })

  it.prop(
    "a signature verifies its own body and secret only",
    [FastCheck.string({ minLength: 1 }), FastCheck.string(), FastCheck.string({ minLength: 1 })],
    ([key, body, extra]) => {
      const header = Notifications.sign(key, body)
      assert.strictEqual(header, `sha256=${createHmac("sha256", key).update(body).digest("hex")}`)
      assert.isTrue(Notifications.verifySignature(key, body, header))
      assert.isTrue(Notifications.verifySignature(key, Buffer.from(body, "utf8"), header))
      assert.isFalse(Notifications.verifySignature(key, body + extra, header))
      assert.isFalse(Notifications.verifySignature(key + extra, body, header))
    }
  )
})

describe("Notifications.config", () => {
  const load = (env: Record<string, string>) =>
    Effect.exit(Effect.withConfigProvider(Notifications.config, ConfigProvider.fromMap(new Map(Object.entries(env)))))

  it.effect("off without WORKER_NOTIFY_URL; the secret stays redacted", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* load({}), Exit.succeed(Option.none()))
      const on = yield* load({ WORKER_NOTIFY_URL: "https://partner.example/hooks", WORKER_NOTIFY_SECRET: "s3cr3t" })
      assert.isTrue(Exit.isSuccess(on))
      if (Exit.isSuccess(on) && Option.isSome(on.value)) {
        assert.strictEqual(on.value.value.url, "https://partner.example/hooks")
        assert.strictEqual(Redacted.value(on.value.value.secret), "s3cr3t")
        assert.notInclude(String(on.value.value.secret), "s3cr3t")
      } else assert.fail("expected a configuration")
    }))

  it.effect("a URL without a secret, or an invalid URL, is refused with the variable's name", () =>
    Effect.gen(function*() {
      for (
        const [env, name] of [
          [{ WORKER_NOTIFY_URL: "https://partner.example/hooks" }, "WORKER_NOTIFY_SECRET"],
          [{ WORKER_NOTIFY_URL: "https://partner.example/hooks", WORKER_NOTIFY_SECRET: "" }, "WORKER_NOTIFY_SECRET"],
          [{ WORKER_NOTIFY_URL: "not a url", WORKER_NOTIFY_SECRET: "x" }, "WORKER_NOTIFY_URL"],
          [{ WORKER_NOTIFY_URL: "ftp://partner.example/", WORKER_NOTIFY_SECRET: "x" }, "WORKER_NOTIFY_URL"]
        ] as const
      ) {
        const exit = yield* load(env)
        assert.isTrue(Exit.isFailure(exit))
        if (Exit.isFailure(exit)) assert.include(String(exit.cause), name)
      }
    }))
})
