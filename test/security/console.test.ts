/**
 * The operator console on the worker's control API: its files load without the token (a browser
 * cannot send one for them), while every API call the console makes still needs it; the console's
 * routes go through the API's rate limit like everything else.
 */
import { HttpClientRequest } from "@effect/platform"
import { assert, describe, layer } from "@effect/vitest"
import { Effect, Redacted } from "effect"
import { harness, token } from "../worker/harness.js"
import { assertProblem, send } from "./support.js"

const get = (path: string, auth?: string) =>
  send((base) =>
    HttpClientRequest.get(`${base}${path}`).pipe(auth === undefined ? (r) => r : HttpClientRequest.bearerToken(auth))
  )

describe("operator console", () => {
  layer(harness({ limits: { maxBodyBytes: 65536, requestTimeout: "30 seconds", requestsPerMinute: 40 } }), {
    excludeTestServices: true
  })((it) => {
    it.effect("its files need no token; the API calls it makes do, and the rate limit covers both", () =>
      Effect.gen(function*() {
        for (const path of ["/console/", "/console/app.js", "/console/api.js", "/console/console.css"]) {
          const answer = yield* get(path)
          assert.strictEqual(answer.status, 200, path)
          assert.match(answer.headers["content-security-policy"] ?? "", /script-src 'self'/, path)
        }
        assert.strictEqual((yield* get("/console")).status, 308)
        assertProblem(assert, yield* get("/console/openapi.json"), 404, "not a console file")

        const bearer = Redacted.value(token)
        // What the console reads, each without the token, with a wrong one, and with the token.
        for (
          const path of [
            "/members/counts",
            "/members?limit=100",
            "/challenges?limit=100",
            "/events?afterId=0&limit=1000",
            "/members/MBR-nobody/credentials",
            "/runs/run-nobody"
          ]
        ) {
          const anonymous = assertProblem(assert, yield* get(path), 401, `${path} without a token`)
          assert.strictEqual(anonymous["_tag"], "Unauthorized")
          assertProblem(assert, yield* get(path, `${bearer}x`), 401, `${path} with a wrong token`)
          assert.oneOf((yield* get(path, bearer)).status, [200, 404], `${path} with the token`)
        }
        // A token in the console's URL is not a token.
        assertProblem(assert, yield* get(`/members/counts?access_token=${bearer}`), 401, "token in the query")

        // 40 requests a minute per client: the anonymous budget (console files, failed calls) runs out.
        let limited = false
        for (let i = 0; i < 60 && !limited; i++) limited = (yield* get("/console/app.js")).status === 429
        assert.isTrue(limited, "the console's files count against the rate limit")
      }))
  })
})
