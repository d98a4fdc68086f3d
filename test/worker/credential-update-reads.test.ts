/**
 * New credentials for a member tracked without an institution code (`POST /members` without
 * `institutionCode`): the update and the run that follows MX's aggregation must not read the member
 * twice within MX's 3-second minimum. At 10 MX seconds per real second, two reads closer than 300 ms
 * of real time break the rule: a read by the update itself, right before the run's first read, would.
 */
import { assert, describe, layer } from "@effect/vitest"
import { Member } from "@mx-aggregation/domain"
import { Sandbox } from "@mx-aggregation/mx-sandbox"
import { Aggregations } from "@mx-aggregation/worker"
import { Effect, Redacted } from "effect"
import { controlClient, ended, harness } from "./harness.js"

const timeScale = 10

describe("credential updates of a member tracked without an institution code", () => {
  layer(
    harness({
      sandbox: { timeScale, aggregationDuration: "10 seconds" },
      engine: { timeScale }
    }),
    { excludeTestServices: true }
  )((it) => {
    it.effect("DENIED -> new credentials -> CONNECTED, no two reads of the member closer than 3 s (MX time)", () =>
      Effect.gen(function*() {
        const mx = yield* Sandbox.Sandbox
        const aggregations = yield* Aggregations.Aggregations
        const client = yield* controlClient
        const user = yield* mx.createUser()
        const created = yield* mx.createMember(user.guid, {
          institutionCode: "mxbank",
          username: "mxuser",
          password: "UNAUTHORIZED",
          skipAggregation: true
        })
        const memberGuid = created.guid as Member.MemberGuid
        const tracked = yield* client.members.track({
          payload: { memberGuid, userGuid: user.guid as Member.UserGuid }
        })
        assert.isNull(tracked.institutionCode, "tracked without an institution code")
        const started = yield* aggregations.start(memberGuid, "Scheduled")
        if (started._tag !== "Started") return assert.fail("the first run did not start")
        assert.strictEqual((yield* ended(started.runId)).run.outcome, "credentials_required")
        // The user takes a moment (10 s of MX time) to type the new password.
        yield* Effect.sleep("1 second")
        const fields = yield* client.members.credentialFields({ path: { memberGuid } })
        const values = fields.map((field) =>
          new Member.CredentialValue({
            guid: field.guid,
            value: Redacted.make(
              /pass/i.test(`${field.field_name} ${field.label} ${field.type}`) ? "password" : "mxuser"
            )
          })
        )
        const updated = yield* client.members.updateCredentials({
          path: { memberGuid },
          payload: { credentials: values as any }
        })
        assert.isTrue(updated.mxStartsAggregation)
        if (updated.runId === null) return assert.fail("no run follows MX's aggregation")
        assert.strictEqual((yield* ended(updated.runId as any)).run.outcome, "connected")
        const stats = yield* mx.stats
        assert.isNotNull(stats.minPollIntervalMs)
        assert.isAtLeast(stats.minPollIntervalMs!, 3000, "no two reads of the member closer than 3 s (MX time)")
        assert.strictEqual(stats.aggregatesAfterAutomatic, 0)
      }))
  })
})
