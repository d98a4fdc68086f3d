/**
 * End-to-end partner notifications: the worker runs MX Bank scenarios against the sandbox while the
 * notification singleton delivers the outbox to a receiving server on 127.0.0.1. The receiver must
 * get each member's events once, in the outbox's order, signed as Standard Webhooks (accepted by the
 * reference library `standardwebhooks`, as a partner verifies them), through an initial run of 500s,
 * and no body may carry the API key, the control token, a credential, an MFA answer or the signing
 * secret.
 */
import { assert, describe, layer } from "@effect/vitest"
import { Member } from "@mx-aggregation/domain"
import { Sandbox } from "@mx-aggregation/mx-sandbox"
import { Outbox } from "@mx-aggregation/store"
import { Aggregations } from "@mx-aggregation/worker"
import * as Notifications from "@mx-aggregation/worker/Notifications"
import type * as NotificationSignature from "@mx-aggregation/worker/NotificationSignature"
import { Context, Effect, Either, Layer, Option, Redacted, Schema, TestClock, TestContext } from "effect"
import { createServer, type IncomingHttpHeaders } from "node:http"
import type { AddressInfo } from "node:net"
import { Webhook } from "standardwebhooks"
import { controlClient, ended, eventually, harness, newMember, pendingChallenge, token } from "./harness.js"

const secretText = "whsec_ZTJlLW5vdGlmeS1zZWNyZXQtN2M0MWIwLWZpdmUtZWlnaHQ="
const secret = Either.getOrThrow(Notifications.parseSecret(secretText))
/** Any other password connects: a unique one, to look for in the bodies. */
const password = "pw-e2e-notify-9d3f11a2"
const mfaAnswer = "correct"

interface Received {
  readonly body: string
  readonly headers: IncomingHttpHeaders
  readonly notification: Notifications.Notification
  readonly status: number
}

/** A receiving server that answers 500 to its first `failFirst` requests, then 200. */
class Receiver extends Context.Tag("test/Receiver")<Receiver, {
  readonly url: string
  readonly requests: Array<Received>
}>() {}

const receiverLayer = (failFirst: number) =>
  Layer.scoped(
    Receiver,
    Effect.acquireRelease(
      Effect.async<{ url: string; requests: Array<Received>; close: () => Promise<void> }>((resume) => {
        const decode = Schema.decodeUnknownSync(Schema.parseJson(Notifications.Notification))
        const requests: Array<Received> = []
        let failures = failFirst
        const server = createServer((req, res) => {
          const chunks: Array<Buffer> = []
          req.on("data", (chunk: Buffer) => chunks.push(chunk))
          req.on("end", () => {
            const body = Buffer.concat(chunks).toString("utf8")
            const status = failures-- > 0 ? 500 : 200
            requests.push({ body, headers: req.headers, notification: decode(body), status })
            res.writeHead(status).end()
          })
        })
        server.listen(0, "127.0.0.1", () =>
          resume(Effect.succeed({
            url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/notifications`,
            requests,
            close: () => new Promise<void>((done) => server.close(() => done()))
          })))
      }),
      (receiver) => Effect.promise(() => receiver.close())
    )
  )

const env = Layer.unwrapEffect(Effect.map(Receiver, (receiver) =>
  Notifications.layerSingleton({
    url: receiver.url,
    secret,
    pollInterval: "50 millis",
    retry: Notifications.makeRetrySchedule({ base: "10 millis", cap: "50 millis", maxRetries: 3 })
  }))).pipe(
    Layer.provideMerge(receiverLayer(3)),
    Layer.provideMerge(harness())
  )

/** Runs a member of a new user through one aggregation; `answer` answers its first challenge. */
const scenario = (memberPassword: string, answer?: string) =>
  Effect.gen(function*() {
    const aggregations = yield* Aggregations.Aggregations
    const { memberGuid } = yield* newMember(memberPassword)
    const started = yield* aggregations.start(memberGuid, "Scheduled")
    assert.strictEqual(started._tag, "Started")
    if (answer !== undefined) {
      const pending = yield* pendingChallenge(memberGuid)
      const client = yield* controlClient
      yield* client.members.answer({
        path: { memberGuid },
        payload: {
          answers: [new Member.CredentialValue({ guid: pending.challenges[0]!.guid, value: Redacted.make(answer) })]
        }
      })
    }
    if (started._tag === "Started") yield* ended(started.runId)
    return memberGuid
  })

describe("partner notifications end to end", () => {
  layer(env, { excludeTestServices: true })((it) => {
    it.effect("each member's events reach the receiver once, in order, signed, with nothing secret", () =>
      Effect.gen(function*() {
        const members = yield* Effect.all({
          connected: scenario(password),
          mfa: scenario("challenge", mfaAnswer),
          denied: scenario("UNAUTHORIZED"),
          locked: scenario("LOCKED")
        }, { concurrency: "unbounded" })
        const outbox = yield* Outbox.Outbox
        const receiver = yield* Receiver
        yield* eventually(
          "every event delivered",
          outbox.undelivered().pipe(Effect.map((events) => events.length === 0 ? Option.some(true) : Option.none()))
        )

        const accepted = receiver.requests.filter((r) => r.status === 200)
        assert.isAtLeast(receiver.requests.filter((r) => r.status === 500).length, 3, "the receiver's 500s happened")
        for (const [name, memberGuid] of Object.entries(members)) {
          const stored = (yield* outbox.listRecent({ memberGuid })).map((e) => e.id).reverse()
          const got = accepted.filter((r) => r.notification.member_guid === memberGuid)
          assert.isAbove(stored.length, 0, `${name} has events`)
          assert.deepStrictEqual(got.map((r) => r.notification.id), stored, `${name}: every event once, in order`)
        }
        const typesOf = (memberGuid: string) =>
          accepted.filter((r) => r.notification.member_guid === memberGuid).map((r) => r.notification.type)
        assert.include(typesOf(members.connected), "data_updated")
        const mfaTypes = typesOf(members.mfa)
        assert.isTrue(
          mfaTypes.indexOf("mfa_required") >= 0 && mfaTypes.indexOf("mfa_required") < mfaTypes.indexOf("data_updated"),
          `mfa_required before data_updated: ${mfaTypes.join(", ")}`
        )
        assert.include(typesOf(members.denied), "credentials_required")
        assert.include(typesOf(members.locked), "institution_action_required")

        const { credentials } = yield* Sandbox.Sandbox
        const secrets = [
          Redacted.value(credentials.apiKey),
          Redacted.value(token),
          secretText.slice("whsec_".length),
          password,
          // The MFA answer as a JSON string value (the bare word is too common to look for).
          JSON.stringify(mfaAnswer)
        ]
        for (const request of receiver.requests) {
          // What a partner runs: the reference library with the secret it was given, on the real clock.
          const parsed = new Webhook(secretText).verify(request.body, request.headers as Record<string, string>)
          assert.deepStrictEqual(parsed, JSON.parse(request.body), "signed with the shared secret")
          assert.strictEqual(request.headers["webhook-id"], String(request.notification.id), "deduplication id")
          const verified = yield* Notifications.verify(secret, request.headers, request.body)
          assert.strictEqual(verified.id, String(request.notification.id))
          for (const value of secrets) {
            assert.notInclude(request.body, value)
            assert.notInclude(JSON.stringify(request.headers), value)
          }
        }

        // A captured delivery is refused when tampered with, under another secret, or replayed later.
        const captured = accepted.find((r) => r.notification.member_guid === members.mfa)!
        const refusal = (effect: Effect.Effect<unknown, NotificationSignature.NotificationVerificationError>) =>
          Effect.map(Effect.flip(effect), (error) => error.reason)
        assert.strictEqual(
          yield* refusal(
            Notifications.verify(secret, captured.headers, captured.body.replace(members.mfa, members.connected))
          ),
          "InvalidSignature"
        )
        const other = Either.getOrThrow(Notifications.parseSecret(`whsec_${Buffer.alloc(32, 1).toString("base64")}`))
        assert.strictEqual(
          yield* refusal(Notifications.verify(other, captured.headers, captured.body)),
          "InvalidSignature"
        )
        const sentAt = Number(captured.headers["webhook-timestamp"]) * 1000
        const replayed = yield* Effect.gen(function*() {
          yield* TestClock.setTime(sentAt + 5 * 60_000 + 1_000)
          return yield* refusal(Notifications.verify(secret, captured.headers, captured.body))
        }).pipe(Effect.provide(TestContext.TestContext))
        assert.strictEqual(replayed, "TimestampTooOld")
      }))
  })
})
