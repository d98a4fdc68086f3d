/**
 * The worker's surface against the sandbox: credential updates through the control API (member
 * credentials read first, never delete-and-recreate, no extra aggregate), duplicates refused, MX
 * webhooks (on the worker's webhook listener) that wake runs (fewer status polls) and are harmless when
 * duplicated or reordered.
 */
import { assert, describe, layer } from "@effect/vitest"
import { Member } from "@mx-aggregation/domain"
import { Sandbox } from "@mx-aggregation/mx-sandbox"
import { AggregationRuns, TrackedMembers } from "@mx-aggregation/store"
import { Aggregations, EngineConfig } from "@mx-aggregation/worker"
import { Duration, Effect, Option, Redacted } from "effect"
import { controlClient, ended, eventually, harness, newMember, postWebhook } from "./harness.js"

const stats = Effect.flatMap(Sandbox.Sandbox, (s) => s.stats)

const runOnce = (memberGuid: Member.MemberGuid) =>
  Effect.gen(function*() {
    const started = yield* Effect.flatMap(Aggregations.Aggregations, (a) => a.start(memberGuid, "Scheduled"))
    if (started._tag !== "Started") return yield* Effect.dieMessage("not started")
    return (yield* ended(started.runId)).run
  })

const credentialValues = (memberGuid: Member.MemberGuid, password: string) =>
  Effect.gen(function*() {
    const client = yield* controlClient
    const fields = yield* client.members.credentialFields({ path: { memberGuid } })
    assert.isAbove(fields.length, 0)
    return fields.map((field) =>
      new Member.CredentialValue({
        guid: field.guid,
        value: Redacted.make(/pass/i.test(`${field.field_name} ${field.label} ${field.type}`) ? password : "mxuser")
      })
    )
  })

describe("credential updates through the control API", () => {
  layer(harness(), { excludeTestServices: true })((it) => {
    it.effect("DENIED -> new credentials -> CONNECTED, with no delete and no extra aggregate", () =>
      Effect.gen(function*() {
        const { memberGuid } = yield* newMember("UNAUTHORIZED")
        assert.strictEqual((yield* runOnce(memberGuid)).outcome, "credentials_required")
        const before = yield* stats
        const values = yield* credentialValues(memberGuid, "password")
        const client = yield* controlClient
        const updated = yield* client.members.updateCredentials({
          path: { memberGuid },
          payload: { credentials: values as any }
        })
        assert.isTrue(updated.mxStartsAggregation)
        assert.isFalse(updated.skipAggregation)
        assert.isNotNull(updated.runId)
        const { run } = yield* ended(updated.runId as any)
        assert.strictEqual(run.outcome, "connected")
        const after = yield* stats
        assert.strictEqual(after.deletes.members, 0, "never deleted")
        assert.strictEqual(
          (after.byOperation["aggregateMember"] ?? 0) - (before.byOperation["aggregateMember"] ?? 0),
          0,
          "no aggregate after the update: MX's own aggregation was followed"
        )
        assert.isAtLeast(
          (after.byOperation["listMemberCredentials"] ?? 0) - (before.byOperation["listMemberCredentials"] ?? 0),
          1
        )
        assert.strictEqual(after.aggregatesAfterAutomatic, 0)
      }))

    it.effect("credentials identical to another member of the same user and institution are refused (409)", () =>
      Effect.gen(function*() {
        const mx = yield* Sandbox.Sandbox
        const aggregations = yield* Aggregations.Aggregations
        const user = yield* mx.createUser()
        yield* mx.createMember(user.guid, { institutionCode: "mxbank", username: "mxuser", password: "password" })
        const second = yield* mx.createMember(user.guid, {
          institutionCode: "mxbank",
          username: "mxuser",
          password: "UNAUTHORIZED",
          skipAggregation: true
        })
        yield* aggregations.discover(user.guid as Member.UserGuid)
        const memberGuid = second.guid as Member.MemberGuid
        const values = yield* credentialValues(memberGuid, "password")
        const client = yield* controlClient
        const refused = yield* Effect.flip(
          client.members.updateCredentials({ path: { memberGuid }, payload: { credentials: values as any } })
        )
        assert.strictEqual(refused._tag, "Conflict")
        assert.strictEqual((yield* stats).deletes.members, 0)
      }))

    it.effect("an identify flow updates credentials with skip_aggregation and starts no run", () =>
      Effect.gen(function*() {
        const { memberGuid } = yield* newMember("UNAUTHORIZED")
        yield* runOnce(memberGuid)
        const values = yield* credentialValues(memberGuid, "password")
        const client = yield* controlClient
        const updated = yield* client.members.updateCredentials({
          path: { memberGuid },
          payload: { credentials: values as any, purpose: "identify" }
        })
        assert.isTrue(updated.skipAggregation)
        assert.isFalse(updated.mxStartsAggregation)
        assert.isNull(updated.runId)
      }))
  })
})

const statusPollsPerRun = (options: { readonly webhooks: boolean }) =>
  Effect.gen(function*() {
    const before = yield* stats
    const runs = 3
    for (let i = 0; i < runs; i++) {
      const { memberGuid } = yield* newMember("password")
      assert.strictEqual((yield* runOnce(memberGuid)).outcome, "connected")
    }
    const after = yield* stats
    const polls = ((after.byOperation["readMemberStatus"] ?? 0) - (before.byOperation["readMemberStatus"] ?? 0)) / runs
    if (options.webhooks) assert.isAbove(after.webhooks.delivered, 0)
    return polls
  })

let pollsWithout = 0

describe("MX webhooks", () => {
  layer(harness({ sandbox: { aggregationDuration: "2 minutes" } }), { excludeTestServices: true })((it) => {
    it.effect("without webhooks: polling on the regular schedule", () =>
      Effect.gen(function*() {
        pollsWithout = yield* statusPollsPerRun({ webhooks: false })
        assert.isAbove(pollsWithout, 0)
      }))
  })

  layer(
    harness({
      webhooks: true,
      sandbox: { aggregationDuration: "2 minutes" },
      engine: { polling: EngineConfig.webhookPolling }
    }),
    { excludeTestServices: true }
  )((it) => {
    it.effect("with webhooks: a completed aggregation wakes the run, and status polls per aggregation drop", () =>
      Effect.gen(function*() {
        const pollsWith = yield* statusPollsPerRun({ webhooks: true })
        console.log(
          `status polls per aggregation: ${pollsWithout.toFixed(1)} without webhooks, ${pollsWith.toFixed(1)} with`
        )
        assert.isBelow(pollsWith, pollsWithout)
      }))
  })

  layer(
    harness({
      // The test sends the webhooks itself.
      webhooks: "listener",
      // Repeats in the test below are sent at once; a window of an hour keeps them within it, however
      // slowly a loaded machine sends them (at the harness's time scale, 30 s of MX time is 0.3 s).
      engine: { polling: EngineConfig.webhookPolling, webhookDebounce: Duration.hours(1) }
    }),
    { excludeTestServices: true }
  )((it) => {
    it.effect("duplicated, reordered and unknown webhooks change nothing", () =>
      Effect.gen(function*() {
        const { memberGuid } = yield* newMember("password")
        const run = yield* runOnce(memberGuid)
        assert.strictEqual(run.outcome, "connected")
        const tracked = yield* TrackedMembers.TrackedMembers
        const before = Option.getOrThrow(yield* tracked.get(memberGuid))
        const statusWebhook = {
          type: "CONNECTION_STATUS",
          action: "CHANGED",
          member_guid: memberGuid,
          connection_status: "DENIED"
        }
        const aggregatesBefore = (yield* stats).byOperation["aggregateMember"] ?? 0
        // A stale CONNECTION_STATUS (DENIED) arriving after the member connected, twice: the first starts a
        // run that reads MX itself, finds CONNECTED with its data pulled, and does not aggregate; the
        // second, within the debounce window, costs nothing. Every one is answered 204, even the ones about
        // no member the worker knows.
        for (const _ of [1, 2]) assert.strictEqual((yield* postWebhook(statusWebhook)).status, 204)
        assert.strictEqual((yield* postWebhook({ type: "SOMETHING_ELSE", member_guid: memberGuid })).status, 204)
        assert.strictEqual((yield* postWebhook({ type: "CONNECTION_STATUS", member_guid: "MBR-unknown" })).status, 204)
        const runs = yield* AggregationRuns.AggregationRuns
        const webhookRuns = yield* eventually(
          "the webhook's run to end",
          Effect.map(runs.listByMember(memberGuid, { limit: 10 }), (all) => {
            const hinted = all.filter((r) => r.reason === "webhook")
            return hinted.length > 0 && hinted.every((r) => r.endedAt !== null) ? Option.some(hinted) : Option.none()
          })
        )
        assert.strictEqual(webhookRuns.length, 1, "the repeat within the debounce window started nothing")
        const after = Option.getOrThrow(yield* tracked.get(memberGuid))
        assert.strictEqual(after.status, "CONNECTED")
        assert.strictEqual(after.status, before.status)
        assert.strictEqual(after.nextAction, "PullData")
        const s = yield* stats
        assert.strictEqual((s.byOperation["aggregateMember"] ?? 0) - aggregatesBefore, 0, "no aggregate from webhooks")
        assert.strictEqual(s.deletes.members, 0)
        assert.strictEqual(s.resumesOutsideChallenged, 0)
      }))
  })
})
