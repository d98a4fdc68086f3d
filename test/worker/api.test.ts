/**
 * The control API through its exported `HttpApiClient`, every endpoint, against a worker on the
 * sandbox; authentication; random bodies never cause a 500; the OpenAPI document lists every endpoint.
 */
import { HttpClient, HttpClientRequest, HttpServer } from "@effect/platform"
import { assert, describe, layer } from "@effect/vitest"
import { Member } from "@mx-aggregation/domain"
import { Aggregations, ControlApi } from "@mx-aggregation/worker"
import { Duration, Effect, FastCheck as fc, Redacted } from "effect"
import { controlClient, ended, harness, newMember, pendingChallenge, token } from "./harness.js"

const baseUrl = Effect.map(
  HttpServer.HttpServer,
  (server) => `http://127.0.0.1:${(server.address as HttpServer.TcpAddress).port}`
)

describe("control API", () => {
  // A short MFA timeout (15 minutes of MX time, 9 s here): the runs that the user's presence starts ask
  // MFA again, and nobody answers them; the first round is answered well within it on a loaded machine
  // (4 minutes, 2.4 s here, expired before the answer under load).
  layer(harness({ engine: { mfaTimeout: Duration.minutes(15) } }), { excludeTestServices: true })((it) => {
    it.effect("every endpoint through the exported client", () =>
      Effect.gen(function*() {
        const client = yield* controlClient
        assert.deepStrictEqual(yield* client.health.health(), { status: "ok" })
        assert.deepStrictEqual(yield* client.health.ready(), { status: "ready" })

        // track, list, get
        const { memberGuid, userGuid } = yield* newMember("challenge")
        const other = yield* newMember("password")
        yield* client.members.untrack({ path: { memberGuid: other.memberGuid }, urlParams: {} })
        const tracked = yield* client.members.track({
          payload: { userGuid: other.userGuid, memberGuid: other.memberGuid }
        })
        assert.isTrue(tracked.tracked)
        const listed = yield* client.members.list({ urlParams: { userGuid } })
        assert.deepStrictEqual(listed.members.map((m) => m.memberGuid), [memberGuid])
        assert.isNull(listed.next)

        // trigger, challenges, answer
        const triggered = yield* client.members.aggregate({ path: { memberGuid } })
        assert.isTrue(triggered.started)
        const pending = yield* pendingChallenge(memberGuid)
        const view = yield* client.members.challenges({ path: { memberGuid } })
        assert.strictEqual(view.runId, pending.runId)
        const all = yield* client.members.pendingChallenges({ urlParams: {} })
        assert.include(all.challenges.map((p) => p.memberGuid), memberGuid)
        yield* client.members.answer({
          path: { memberGuid },
          payload: {
            answers: [new Member.CredentialValue({ guid: view.challenges[0]!.guid, value: Redacted.make("correct") })]
          }
        })
        yield* ended(triggered.runId as any)
        const detail = yield* client.members.get({ path: { memberGuid } })
        assert.strictEqual(detail.member.connectionStatus, "CONNECTED")
        assert.strictEqual(detail.runs[0]!.outcome, "connected")
        const byClass = yield* client.members.list({ urlParams: { statusClass: "Connected" } })
        assert.include(byClass.members.map((m) => m.memberGuid), memberGuid)

        // the run with the statuses it observed; the members counted by status class
        const run = yield* client.runs.get({ path: { runId: triggered.runId as any } })
        assert.strictEqual(run.memberGuid, memberGuid)
        assert.strictEqual(run.run.runId, triggered.runId)
        assert.strictEqual(run.run.outcome, "connected")
        const statuses = run.statuses.map((s) => s.status)
        assert.include(statuses, "CHALLENGED")
        assert.strictEqual(statuses.at(-1), "CONNECTED")
        const missingRun = yield* Effect.flip(client.runs.get({ path: { runId: "run-nobody" as any } }))
        assert.strictEqual(missingRun._tag, "NotFound")
        const counts = yield* client.members.counts()
        assert.strictEqual(counts.total, counts.byStatusClass.reduce((sum, c) => sum + c.count, 0))
        assert.isAtLeast(counts.byStatusClass.find((c) => c.statusClass === "Connected")?.count ?? 0, 1)

        // credentials fields, credential update (of a member MX asks new credentials for)
        const denied = yield* newMember("UNAUTHORIZED")
        const deniedRun = yield* Effect.flatMap(
          Aggregations.Aggregations,
          (a) => a.start(denied.memberGuid, "Scheduled")
        )
        if (deniedRun._tag !== "Started") return assert.fail("not started")
        assert.strictEqual((yield* ended(deniedRun.runId)).run.outcome, "credentials_required")
        const fields = yield* client.members.credentialFields({ path: { memberGuid: denied.memberGuid } })
        assert.isAbove(fields.length, 0)
        const updated = yield* client.members.updateCredentials({
          path: { memberGuid: denied.memberGuid },
          payload: {
            credentials: fields.map((f) =>
              new Member.CredentialValue({
                guid: f.guid,
                value: Redacted.make(f.field_name === "password" ? "password" : "mxuser")
              })
            ) as any,
            aggregateLater: true
          }
        })
        assert.isTrue(updated.skipAggregation)

        // user present, user aggregate
        const present = yield* client.members.userPresent({ path: { userGuid } })
        assert.deepStrictEqual(present.map((t) => t.memberGuid), [memberGuid])
        for (const t of present) if (t.runId !== null) yield* ended(t.runId as any, "90 seconds")
        const refreshed = yield* client.members.aggregateUser({ path: { userGuid } })
        assert.strictEqual(refreshed.length, 1)
        for (const t of refreshed) if (t.runId !== null) yield* ended(t.runId as any, "90 seconds")

        // events
        const events = yield* client.events.list({ urlParams: { memberGuid } })
        assert.include(events.events.map((e) => e.type), "mfa_required")
        assert.strictEqual(events.next, events.events.at(-1)!.id)
        const later = yield* client.events.list({ urlParams: { memberGuid, afterId: events.events[0]!.id } })
        assert.deepStrictEqual(later.events.map((e) => e.id), events.events.slice(1).map((e) => e.id))
      }))

    it.effect("401 without a token or with a wrong one, on every authenticated endpoint", () =>
      Effect.gen(function*() {
        const base = yield* baseUrl
        const http = yield* HttpClient.HttpClient
        const requests = [
          HttpClientRequest.get(`${base}/members`),
          HttpClientRequest.get(`${base}/members/counts`),
          HttpClientRequest.get(`${base}/members/MBR-1`),
          HttpClientRequest.get(`${base}/runs/run-1`),
          HttpClientRequest.get(`${base}/challenges`),
          HttpClientRequest.get(`${base}/events`),
          HttpClientRequest.post(`${base}/members/MBR-1/aggregate`),
          HttpClientRequest.post(`${base}/users/USR-1/present`)
        ]
        for (const request of requests) {
          for (const auth of [undefined, "wrong", `${Redacted.value(token)}x`]) {
            const response = yield* http.execute(
              auth === undefined ? request : HttpClientRequest.bearerToken(request, auth)
            )
            assert.strictEqual(response.status, 401, `${request.method} ${request.url} with ${auth ?? "no token"}`)
          }
        }
      }))

    it.effect.prop(
      "random bodies to every endpoint that takes one: 4xx with a message, never a 500",
      [fc.oneof(fc.json(), fc.string(), fc.jsonValue().map((v) => JSON.stringify({ answers: v, credentials: v })))],
      ([body]) =>
        Effect.gen(function*() {
          const base = yield* baseUrl
          const http = yield* HttpClient.HttpClient
          for (
            const path of [
              "/members/MBR-x/challenges/answers",
              "/members/MBR-x/credentials",
              "/members"
            ]
          ) {
            const response = yield* http.execute(
              HttpClientRequest.post(`${base}${path}`).pipe(
                HttpClientRequest.bodyText(body, "application/json"),
                HttpClientRequest.bearerToken(Redacted.value(token))
              )
            )
            assert.isBelow(response.status, 500, `${path} <- ${body}`)
            if (response.status >= 400) assert.isAbove((yield* response.text).length, 0, `${path} <- ${body}`)
          }
        }),
      { fastCheck: { numRuns: 60 } }
    )

    it.effect("the OpenAPI document is served and lists every endpoint", () =>
      Effect.gen(function*() {
        const base = yield* baseUrl
        const http = yield* HttpClient.HttpClient
        const document = (yield* (yield* http.execute(HttpClientRequest.get(`${base}/openapi.json`))).json) as any
        assert.match(document.openapi, /^3\./)
        assert.isString(document.info.title)
        const operations = Object.entries(document.paths as Record<string, Record<string, unknown>>)
          .flatMap(([path, methods]) => Object.keys(methods).map((method) => `${method.toUpperCase()} ${path}`))
        const expected = Object.values(ControlApi.ControlApi.groups).flatMap((group: any) =>
          Object.values(group.endpoints).map((e: any) => `${e.method} ${e.path.replace(/:(\w+)/g, "{$1}")}`)
        )
        assert.isAbove(expected.length, 14)
        for (const endpoint of expected) assert.include(operations, endpoint)
        const docs = yield* http.execute(HttpClientRequest.get(`${base}/docs`))
        assert.strictEqual(docs.status, 200)
      }))

    it.effect("user present aggregates an EXPIRED-like member only with the user, never prompting for credentials", () =>
      Effect.gen(function*() {
        const aggregations = yield* Aggregations.Aggregations
        const { memberGuid, userGuid } = yield* newMember("challenge")
        const first = yield* aggregations.start(memberGuid, "Scheduled")
        if (first._tag !== "Started") return assert.fail("not started")
        yield* pendingChallenge(memberGuid)
        const client = yield* controlClient
        const wrong = yield* client.members.challenges({ path: { memberGuid } })
        yield* client.members.answer({
          path: { memberGuid },
          payload: {
            answers: [new Member.CredentialValue({ guid: wrong.challenges[0]!.guid, value: Redacted.make("nope") })]
          }
        })
        assert.strictEqual((yield* ended(first.runId)).run.outcome, "needs_user_present")
        // Scheduled: REJECTED waits for the user.
        const scheduled = yield* aggregations.start(memberGuid, "Scheduled")
        if (scheduled._tag !== "Started") return assert.fail("not started")
        assert.strictEqual((yield* ended(scheduled.runId)).run.outcome, "needs_user_present")
        // The user is present: a new aggregation, which asks MFA again.
        const [present] = yield* client.members.userPresent({ path: { userGuid } })
        assert.isTrue(present!.started)
        const again = yield* pendingChallenge(memberGuid)
        assert.strictEqual(again.runId, present!.runId)
      }))
  })
})
