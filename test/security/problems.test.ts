/**
 * Every error of the control API is an RFC 9457 problem (`application/problem+json` with `type`,
 * `title`, `status`, `detail`); 401 says `WWW-Authenticate: Bearer`; a database outage is a 503 with
 * `Retry-After`, never a 500; and nothing the client sent in a wrong shape (an MFA answer, a credential
 * value, the token) comes back in a response or reaches the worker's logs.
 */
import { HttpClientRequest, HttpServerError, HttpServerRequest } from "@effect/platform"
import { assert, describe, it, layer } from "@effect/vitest"
import { ProblemResponses } from "@mx-aggregation/worker"
import { Cause, Effect, Layer, Redacted } from "effect"
import { harness, newMember, token } from "../worker/harness.js"
import { assertProblem, CapturedLogs, failingStore, type Outage, post, send } from "./support.js"

const bearer = Redacted.value(token)

const get = (path: string, auth: string | null = bearer) =>
  send((base) =>
    HttpClientRequest.get(`${base}${path}`).pipe(auth === null ? (r) => r : HttpClientRequest.bearerToken(auth))
  )

describe("problems", () => {
  // The worker's logs are captured from its first fiber on.
  const worker = harness({ limits: { maxBodyBytes: 1024, requestTimeout: "30 seconds", requestsPerMinute: 10_000 } })
  layer(worker.pipe(Layer.provideMerge(CapturedLogs.layer)), { excludeTestServices: true })((it) => {
    it.effect("every error status is a problem, with WWW-Authenticate on 401", () =>
      Effect.gen(function*() {
        const { memberGuid } = yield* newMember("password")
        const unauthorized = yield* get("/members", null)
        assertProblem(assert, unauthorized, 401, "no token")
        assert.strictEqual(unauthorized.headers["www-authenticate"], "Bearer realm=\"mx-aggregation\"")
        const wrong = yield* get("/members", "not-the-token")
        assertProblem(assert, wrong, 401, "wrong token")
        assert.match(wrong.headers["www-authenticate"] ?? "", /^Bearer /)

        assertProblem(assert, yield* get("/members/MBR-nobody"), 404, "unknown member")
        assertProblem(assert, yield* get(`/members/${memberGuid}/challenges`), 404, "no pending challenge")
        assertProblem(assert, yield* get("/no/such/route"), 404, "unknown route")
        assertProblem(
          assert,
          yield* post(
            `/members/${memberGuid}/challenges/answers`,
            "{\"answers\":[{\"guid\":\"CRD-1\",\"value\":\"x\"}]}",
            bearer
          ),
          409,
          "answers for a member that is not waiting"
        )
        const bad = assertProblem(assert, yield* post("/members", "{\"userGuid\": 5}", bearer), 400, "wrong shape")
        assert.strictEqual(bad["_tag"], "BadRequest")
        assert.deepStrictEqual((bad["issues"] as Array<{ path: Array<unknown> }>).map((i) => i.path.join(".")), [
          "userGuid"
        ])
        assertProblem(assert, yield* post("/members", "{not json", bearer), 400, "not JSON")
        assertProblem(assert, yield* get("/events?afterId=1.5"), 400, "a fractional cursor")
        assertProblem(
          assert,
          yield* post("/members", JSON.stringify({ pad: "x".repeat(4096) }), bearer),
          413,
          "too big"
        )
        // The OpenAPI document says so too.
        const document = JSON.parse((yield* get("/openapi.json", null)).text)
        const responses = document.paths["/members/{memberGuid}"].get.responses
        assert.deepStrictEqual(Object.keys(responses["404"].content), ["application/problem+json"])
        for (const status of ["400", "401", "404", "429", "503"]) {
          assert.deepStrictEqual(Object.keys(responses[status].content), ["application/problem+json"], status)
        }
      }))

    it.effect("values sent in wrong shapes never come back, in a response or in the logs", () =>
      Effect.gen(function*() {
        const logs = yield* CapturedLogs
        const { memberGuid } = yield* newMember("challenge")
        const answer = "mfa-answer-S3CRET"
        const answerNumber = "7350291846"
        const credential = "cred-value-HUNTER2"
        const credentialNumber = "987654321012"
        const secrets = [answer, answerNumber, credential, credentialNumber, bearer]
        const answers = `/members/${memberGuid}/challenges/answers`
        const credentials = `/members/${memberGuid}/credentials`
        const sent = [
          yield* post(answers, `{"answers":[{"guid":"CRD-1","value":${answerNumber}}]}`, bearer),
          yield* post(answers, `{"answers":[{"guid":"CRD-1","value":["${answer}"]}]}`, bearer),
          yield* post(answers, `{"answers":[{"guid":"CRD-1","value":{"answer":"${answer}"}}]}`, bearer),
          yield* post(answers, `{"answers":{"CRD-1":"${answer}"}}`, bearer),
          yield* post(answers, `{"answers":"${answer}"}`, bearer),
          yield* post(answers, `"${answer}"`, bearer),
          yield* post(answers, `${answer}`, bearer),
          yield* post(answers, `{"answers":[{"guid":${answerNumber},"value":"x"}]}`, bearer),
          yield* post(credentials, `{"credentials":[{"guid":"CRD-2","value":{"password":"${credential}"}}]}`, bearer),
          yield* post(credentials, `{"credentials":[{"guid":"CRD-2","value":${credentialNumber}}]}`, bearer),
          yield* post(credentials, `{"credentials":"${credential}","purpose":"${credential}"}`, bearer),
          yield* post(
            credentials,
            `{"credentials":[{"guid":"CRD-2","value":"${credential}"}],"aggregateLater":"${credential}"}`,
            bearer
          ),
          // The token where it does not belong: another scheme, no scheme, a query parameter, a body.
          yield* send((base) =>
            HttpClientRequest.get(`${base}/members`).pipe(
              HttpClientRequest.setHeader("authorization", `Token ${bearer}`)
            )
          ),
          yield* send((base) =>
            HttpClientRequest.get(`${base}/members`).pipe(HttpClientRequest.setHeader("authorization", bearer))
          ),
          // Seven characters before the token, like "Bearer ": the framework's own check strips any.
          yield* send((base) =>
            HttpClientRequest.get(`${base}/members`).pipe(
              HttpClientRequest.setHeader("authorization", `Tokens ${bearer}`)
            )
          ),
          yield* send((base) => HttpClientRequest.get(`${base}/members?access_token=${bearer}`)),
          yield* send((base) =>
            HttpClientRequest.get(`${base}/events?limit=${bearer}`).pipe(HttpClientRequest.bearerToken(bearer))
          ),
          yield* post("/members", `{"token":"${bearer}","userGuid":{"t":"${bearer}"}}`, bearer),
          yield* post("/members", `{"token":"${bearer}"}`, undefined)
        ]
        for (const [i, response] of sent.entries()) {
          assert.isAtLeast(response.status, 400, `request ${i}`)
          assert.isBelow(response.status, 500, `request ${i}: ${response.text}`)
          assert.strictEqual(response.headers["content-type"], "application/problem+json", `request ${i}`)
          for (const secret of secrets) {
            assert.notInclude(response.text, secret, `request ${i} echoes a value: ${response.text}`)
          }
        }
        assert.isAbove(logs.length, sent.length, "every request was logged")
        for (const secret of secrets) {
          assert.deepStrictEqual(logs.filter((line) => line.includes(secret)), [], "a value reached the logs")
        }
      }))
  })
})

describe("problemOf", () => {
  it("a body cut off at the size limit while it was read (no Content-Length) is 413, an unreadable one 400", () => {
    const request = HttpServerRequest.fromWeb(new Request("http://127.0.0.1/members", { method: "POST" }))
    const cut = new HttpServerError.RequestError({ request, reason: "Decode", cause: new Error("maxBytes exceeded") })
    assert.strictEqual(ProblemResponses.problemOf(Cause.die(cut)).problem._tag, "PayloadTooLarge")
    const garbled = new HttpServerError.RequestError({
      request,
      reason: "Decode",
      cause: new SyntaxError(`Unexpected token 'h', "hunter2" is not valid JSON`)
    })
    const { problem } = ProblemResponses.problemOf(Cause.die(garbled))
    assert.strictEqual(problem._tag, "BadRequest")
    assert.notInclude(JSON.stringify(problem), "hunter2", "the parser's message quotes the body")
  })
})

describe("a database outage", () => {
  const outage: Outage = { on: false }
  layer(harness({ store: failingStore(outage) }), { excludeTestServices: true })((it) => {
    it.effect("is a 503 problem with Retry-After on every endpoint that reads or writes the store, never a 500", () =>
      Effect.gen(function*() {
        const { memberGuid, userGuid } = yield* newMember("password")
        const requests = [
          () => get("/members"),
          () => get(`/members/${memberGuid}`),
          () => get(`/members/${memberGuid}/challenges`),
          () => get(`/members/${memberGuid}/credentials`),
          () => get("/challenges"),
          () => get("/events?afterId=0"),
          () => post("/members", JSON.stringify({ userGuid, memberGuid }), bearer),
          () => post(`/members/${memberGuid}/aggregate`, "", bearer),
          () =>
            post(
              `/members/${memberGuid}/challenges/answers`,
              "{\"answers\":[{\"guid\":\"CRD-1\",\"value\":\"x\"}]}",
              bearer
            ),
          () =>
            post(
              `/members/${memberGuid}/credentials`,
              "{\"credentials\":[{\"guid\":\"CRD-1\",\"value\":\"x\"}]}",
              bearer
            ),
          () => post(`/users/${userGuid}/present`, "", bearer),
          () => post(`/users/${userGuid}/aggregate`, "", bearer),
          () =>
            send((base) =>
              HttpClientRequest.del(`${base}/members/${memberGuid}`).pipe(HttpClientRequest.bearerToken(bearer))
            ),
          () =>
            send((base) =>
              HttpClientRequest.del(`${base}/members/${memberGuid}?purge=true`).pipe(
                HttpClientRequest.bearerToken(bearer)
              )
            )
        ]
        outage.on = true
        for (const [i, request] of requests.entries()) {
          const answer = yield* request()
          const problem = assertProblem(assert, answer, 503, `request ${i}`)
          assert.strictEqual(problem["_tag"], "Unavailable", `request ${i}`)
          assert.strictEqual(answer.headers["retry-after"], "5", `request ${i}`)
        }
        outage.on = false
        for (const [i, request] of requests.slice(0, 6).entries()) {
          assert.isBelow((yield* request()).status, 500, `request ${i} after the outage`)
        }
      }))
  })
})
