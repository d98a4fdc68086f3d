/**
 * Partner notifications against a receiving server on 127.0.0.1 and a fresh store: every event once,
 * in order per member, signed as Standard Webhooks (the reference library accepts each delivery);
 * retried through 500s and refused connections without losing or reordering anything; nothing secret
 * in the bodies. Then the verifier (tampering, wrong secret, replays, on TestClock), the secret's
 * format and the configuration's rules.
 */
import { NodeHttpClient } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Member } from "@mx-aggregation/domain"
import { Outbox, TestDatabase } from "@mx-aggregation/store"
import * as Notifications from "@mx-aggregation/worker/Notifications"
import * as NotificationSignature from "@mx-aggregation/worker/NotificationSignature"
import {
  ConfigProvider,
  Effect,
  Either,
  Exit,
  FastCheck,
  Layer,
  Option,
  Redacted,
  Schedule,
  Schema,
  TestClock
} from "effect"
import { createServer, type IncomingMessage } from "node:http"
import type { AddressInfo } from "node:net"
import { inspect } from "node:util"
import { Webhook } from "standardwebhooks"

/** A 32-byte key in Standard Webhooks format. */
const secretText = "whsec_Vt8qz0rR9sN2k6yXbA3cD4eF5gH6iJ7kL8mN9oP0qRs="
const secret = Either.getOrThrow(Notifications.parseSecret(secretText))

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
        const other = Either.getOrThrow(
          Notifications.parseSecret(Redacted.value(yield* NotificationSignature.generateSecret))
        )
        for (const r of server.requests) {
          // The reference library, as a partner would use it, on the real clock.
          const parsed = new Webhook(secretText).verify(r.body, r.headers as Record<string, string>)
          assert.deepStrictEqual(parsed, JSON.parse(r.body), "the library accepts the delivery")
          const verified = yield* Notifications.verify(secret, r.headers, r.body)
          assert.strictEqual(verified.id, String(r.notification.id))
          const refused = yield* Effect.flip(Notifications.verify(other, r.headers, r.body))
          assert.strictEqual(refused.reason, "InvalidSignature")
          assert.strictEqual(r.headers["webhook-id"], String(r.notification.id))
          assert.match(String(r.headers["webhook-signature"]), /^v1,[A-Za-z0-9+/]{43}=$/)
          assert.isUndefined(r.headers["x-mx-aggregation-signature"], "the replayable HMAC header is gone")
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
      for (const r of server.requests) {
        // Every attempt, retries included, carries the event's id: what receivers deduplicate on.
        assert.strictEqual(r.headers["webhook-id"], String(r.notification.id))
        yield* Notifications.verify(secret, r.headers, r.body)
      }
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
      for (const value of [password, answer, secretText, secretText.slice("whsec_".length)]) {
        assert.notInclude(request!.body, value)
        assert.notInclude(JSON.stringify(request!.headers), value)
      }
    }).pipe(Effect.scoped, Effect.provide(env())))
})

describe("Notifications.verify", () => {
  const body = JSON.stringify({ id: 41, type: "data_updated", member_guid: "MBR-1" })
  /** Headers of a delivery of `body` signed now (on the test's clock). */
  const signedNow = (id = "41", payload: string | Uint8Array = body) =>
    Effect.map(
      Effect.clockWith((clock) => clock.currentTimeMillis),
      (now) => NotificationSignature.headers(secret, id, Math.floor(now / 1000), payload)
    )

  it.effect("accepts the Standard Webhooks test vector, and signs it the same way", () =>
    Effect.gen(function*() {
      const vector = Either.getOrThrow(Notifications.parseSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"))
      const headers = {
        "webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
        "webhook-timestamp": "1614265330",
        "webhook-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
      }
      yield* TestClock.setTime(1614265330 * 1000)
      const verified = yield* Notifications.verify(vector, headers, "{\"test\": 2432232314}")
      assert.deepStrictEqual(verified, { id: "msg_p5jXN8AQM9LWM0D4loKWxJek", timestampSeconds: 1614265330 })
      assert.strictEqual(
        NotificationSignature.sign(vector, headers["webhook-id"], 1614265330, "{\"test\": 2432232314}"),
        headers["webhook-signature"]
      )
    }))

  it.effect("a tampered body, a wrong secret, a changed id or timestamp are refused as InvalidSignature", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(1_800_000_000_000)
      const headers = yield* signedNow()
      yield* Notifications.verify(secret, headers, body)
      yield* Notifications.verify(secret, headers, Buffer.from(body, "utf8"))
      const wrong = Either.getOrThrow(
        Notifications.parseSecret(Redacted.value(yield* NotificationSignature.generateSecret))
      )
      const cases: ReadonlyArray<
        readonly [string, Effect.Effect<unknown, NotificationSignature.NotificationVerificationError>]
      > = [
        ["tampered body", Notifications.verify(secret, headers, body.replace("data_updated", "stopped"))],
        ["one more byte", Notifications.verify(secret, headers, `${body} `)],
        ["wrong secret", Notifications.verify(wrong, headers, body)],
        ["another id", Notifications.verify(secret, { ...headers, "webhook-id": "42" }, body)],
        [
          "another timestamp",
          Notifications.verify(secret, { ...headers, "webhook-timestamp": String(1_800_000_000 - 1) }, body)
        ],
        [
          "unversioned",
          Notifications.verify(
            secret,
            { ...headers, "webhook-signature": headers["webhook-signature"]!.slice(3) },
            body
          )
        ],
        [
          "v2",
          Notifications.verify(secret, {
            ...headers,
            "webhook-signature": `v2${headers["webhook-signature"]!.slice(2)}`
          }, body)
        ]
      ]
      for (const [label, verification] of cases) {
        const error = yield* Effect.flip(verification)
        assert.strictEqual(error._tag, "NotificationVerificationError", label)
        assert.strictEqual(error.reason, "InvalidSignature", label)
      }
      // One good signature among several (a partner rotating secrets) is enough.
      yield* Notifications.verify(
        secret,
        { ...headers, "webhook-signature": `v1,bm90IHRoaXMgb25l ${headers["webhook-signature"]}` },
        body
      )
    }))

  it.effect("a replay after the tolerance is refused; within it, accepted; a custom tolerance applies", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(1_800_000_000_000)
      const headers = yield* signedNow()
      yield* TestClock.adjust("5 minutes")
      yield* Notifications.verify(secret, headers, body)
      yield* TestClock.adjust("1 second")
      const old = yield* Effect.flip(Notifications.verify(secret, headers, body))
      assert.strictEqual(old.reason, "TimestampTooOld")
      yield* Notifications.verify(secret, headers, body, { tolerance: "1 hour" })
      yield* TestClock.adjust("1 hour")
      assert.strictEqual(
        (yield* Effect.flip(Notifications.verify(secret, headers, body, { tolerance: "1 hour" }))).reason,
        "TimestampTooOld"
      )
      // Re-signing the same body with the old timestamp is what an attacker cannot do without the key;
      // keeping the old signature with a fresh timestamp fails the signature.
      const fresh = { ...headers, "webhook-timestamp": String(Math.floor(1_800_000_000 + 3_901)) }
      assert.strictEqual((yield* Effect.flip(Notifications.verify(secret, fresh, body))).reason, "InvalidSignature")
    }))

  it.effect("a timestamp from the future beyond the tolerance is refused", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(1_800_000_000_000)
      const ahead = NotificationSignature.headers(secret, "41", 1_800_000_000 + 301, body)
      assert.strictEqual((yield* Effect.flip(Notifications.verify(secret, ahead, body))).reason, "TimestampTooNew")
      yield* Notifications.verify(secret, NotificationSignature.headers(secret, "41", 1_800_000_000 + 300, body), body)
    }))

  it.effect("missing, repeated or malformed headers are refused with their reason", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(1_800_000_000_000)
      const headers = yield* signedNow()
      const without = (name: string) => Object.fromEntries(Object.entries(headers).filter(([k]) => k !== name))
      for (const name of ["webhook-id", "webhook-timestamp", "webhook-signature"]) {
        assert.strictEqual(
          (yield* Effect.flip(Notifications.verify(secret, without(name), body))).reason,
          "MissingHeaders",
          name
        )
      }
      const repeated = { ...headers, "webhook-id": ["41", "41"] }
      assert.strictEqual((yield* Effect.flip(Notifications.verify(secret, repeated, body))).reason, "MissingHeaders")
      for (const timestamp of ["", "soon", "1.8e9", "-1", "1800000000abc"]) {
        const error = yield* Effect.flip(
          Notifications.verify(secret, { ...headers, "webhook-timestamp": timestamp }, body)
        )
        assert.strictEqual(error.reason, "InvalidTimestamp", timestamp)
      }
      // Header names in any case, and fetch's Headers, are read.
      const upper = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toUpperCase(), v]))
      yield* Notifications.verify(secret, upper, body)
      yield* Notifications.verify(secret, new Headers(headers), body)
    }))

  it.effect.prop(
    "a delivery verifies with its own body and secret only",
    [FastCheck.string(), FastCheck.string({ minLength: 1 }), FastCheck.integer({ min: 1, max: 1_000_000 })],
    ([payload, extra, id]) =>
      Effect.gen(function*() {
        const headers = yield* signedNow(String(id), payload)
        yield* Notifications.verify(secret, headers, payload)
        yield* Notifications.verify(secret, headers, new TextEncoder().encode(payload))
        assert.strictEqual(
          (yield* Effect.flip(Notifications.verify(secret, headers, payload + extra))).reason,
          "InvalidSignature"
        )
      }),
    // Each run computes four HMACs in plain JavaScript (the reference library's); 50 runs cover it.
    { fastCheck: { numRuns: 50 } }
  )
})

describe("NotificationSignature.parseSecret", () => {
  const key = (bytes: number) => `whsec_${Buffer.alloc(bytes, 7).toString("base64")}`

  it("accepts whsec_ with 24 to 64 bytes of key, and what generateSecret makes", () => {
    for (const bytes of [24, 32, 64]) {
      assert.isTrue(Either.isRight(Notifications.parseSecret(key(bytes))), String(bytes))
    }
    assert.isTrue(Either.isRight(Notifications.parseSecret(Redacted.make(secretText))))
    const generated = Effect.runSync(NotificationSignature.generateSecret)
    assert.isTrue(Either.isRight(Notifications.parseSecret(generated)))
    assert.match(Redacted.value(generated), /^whsec_[A-Za-z0-9+/]{43}=$/)
  })

  it("refuses short, long and malformed secrets without repeating them", () => {
    const cases: ReadonlyArray<readonly [string, "Format" | "Length"]> = [
      ["", "Format"],
      ["x", "Format"],
      ["hunter2-hunter2-hunter2-hunter2-hunter2", "Format"],
      [Buffer.alloc(32, 7).toString("base64"), "Format"],
      ["whsec_", "Length"],
      [key(16), "Length"],
      [key(23), "Length"],
      [key(65), "Length"],
      ["whsec_not base64 at all!!", "Format"],
      [`${key(32)}=`, "Format"],
      [key(32).replace("whsec_", "whsec-"), "Format"]
    ]
    for (const [text, reason] of cases) {
      const result = Notifications.parseSecret(text)
      assert.isTrue(Either.isLeft(result), text)
      if (Either.isLeft(result)) {
        assert.strictEqual(result.left.reason, reason, text)
        if (text.length > 6) assert.notInclude(result.left.message, text.slice(6))
      }
    }
  })

  it("a parsed secret prints and serialises as redacted", () => {
    const parsed = Either.getOrThrow(Notifications.parseSecret(secretText))
    const key = secretText.slice("whsec_".length)
    for (const shown of [String(parsed), JSON.stringify(parsed), inspect(parsed, { depth: 10 })]) {
      assert.notInclude(shown, key)
      assert.notInclude(shown, Buffer.from(key, "base64").toString("hex"))
    }
  })
})

describe("Notifications.config", () => {
  const load = (env: Record<string, string>) =>
    Effect.exit(Effect.withConfigProvider(Notifications.config, ConfigProvider.fromMap(new Map(Object.entries(env)))))

  const accepted = (env: Record<string, string>) =>
    Effect.gen(function*() {
      const exit = yield* load(env)
      if (Exit.isSuccess(exit) && Option.isSome(exit.value)) return exit.value.value
      return assert.fail(`expected a configuration for ${JSON.stringify(env)}: ${String(exit)}`)
    })

  const refused = (env: Record<string, string>, name: string) =>
    Effect.gen(function*() {
      const exit = yield* load(env)
      assert.isTrue(Exit.isFailure(exit), JSON.stringify(env))
      if (Exit.isFailure(exit)) {
        const text = String(exit.cause)
        assert.include(text, name, JSON.stringify(env))
        if (env.WORKER_NOTIFY_SECRET !== undefined && env.WORKER_NOTIFY_SECRET.length > 6) {
          assert.notInclude(text, env.WORKER_NOTIFY_SECRET.slice(6), "the secret is not repeated")
        }
      }
    })

  it.effect("off without WORKER_NOTIFY_URL; the secret stays redacted", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* load({}), Exit.succeed(Option.none()))
      const on = yield* accepted({
        WORKER_NOTIFY_URL: "https://partner.example/hooks",
        WORKER_NOTIFY_SECRET: secretText
      })
      assert.strictEqual(on.url, "https://partner.example/hooks")
      assert.strictEqual(
        NotificationSignature.sign(on.secret, "1", 1, "{}"),
        new Webhook(secretText).sign("1", new Date(1000), "{}")
      )
      assert.notInclude(inspect(on, { depth: 10 }), secretText.slice(6))
    }))

  it.effect("https anywhere; http only to loopback unless WORKER_NOTIFY_ALLOW_HTTP=true", () =>
    Effect.gen(function*() {
      for (
        const url of [
          "https://partner.example/hooks",
          "http://127.0.0.1:9000/hooks",
          "http://127.1/hooks",
          "http://[::1]:9000/hooks",
          "http://localhost:9000/hooks"
        ]
      ) {
        assert.strictEqual((yield* accepted({ WORKER_NOTIFY_URL: url, WORKER_NOTIFY_SECRET: secretText })).url, url)
      }
      for (
        const url of ["http://partner.example/hooks", "http://10.0.0.8/hooks", "http://localhost.partner.example/"]
      ) {
        yield* refused({ WORKER_NOTIFY_URL: url, WORKER_NOTIFY_SECRET: secretText }, "WORKER_NOTIFY_ALLOW_HTTP")
        const allowed = yield* accepted({
          WORKER_NOTIFY_URL: url,
          WORKER_NOTIFY_SECRET: secretText,
          WORKER_NOTIFY_ALLOW_HTTP: "true"
        })
        assert.strictEqual(allowed.url, url)
      }
      yield* refused(
        {
          WORKER_NOTIFY_URL: "https://partner.example/",
          WORKER_NOTIFY_SECRET: secretText,
          WORKER_NOTIFY_ALLOW_HTTP: "maybe"
        },
        "WORKER_NOTIFY_ALLOW_HTTP"
      )
    }))

  it.effect("a URL without a secret, a weak or malformed secret, or an invalid URL is refused with the variable's name", () =>
    Effect.gen(function*() {
      const url = "https://partner.example/hooks"
      yield* refused({ WORKER_NOTIFY_URL: url }, "WORKER_NOTIFY_SECRET")
      for (
        const weak of [
          "",
          "s3cr3t",
          "notify-secret-4f1d2c9a7b",
          `whsec_${Buffer.from("sixteen byte key").toString("base64")}`,
          "whsec_%%%%"
        ]
      ) {
        yield* refused({ WORKER_NOTIFY_URL: url, WORKER_NOTIFY_SECRET: weak }, "WORKER_NOTIFY_SECRET")
      }
      for (const bad of ["not a url", "ftp://partner.example/", "file:///etc/passwd"]) {
        yield* refused({ WORKER_NOTIFY_URL: bad, WORKER_NOTIFY_SECRET: secretText }, "WORKER_NOTIFY_URL")
      }
    }))
})
