import { assert, describe, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import { Model } from "../src/testing.js"

const bank: fc.Arbitrary<Model.Bank> = fc.record({
  mfaRounds: fc.integer({ min: 0, max: 3 }),
  credentials: fc.constantFrom("valid" as const, "invalid" as const, "missing" as const),
  institution: fc.constantFrom(
    "ok" as const,
    "locked" as const,
    "impeded" as const,
    "down" as const,
    "discontinued" as const
  )
})

describe("a partner following NextAction against MX's model", () => {
  it.prop(
    "reaches CONNECTED or a documented end state from any reachable state, breaking no MX rule",
    [bank, Model.environmentCommands(40)],
    ([initialBank, commands]) => {
      const model = new Model.MxModel({ ...initialBank })
      fc.modelRun(() => ({ model: {}, real: model }), commands)
      const before = model.calls.length
      const report = Model.runAgent(model, 60)
      const calls = model.calls.slice(before)

      assert.notStrictEqual(report.outcome, "StepLimit", `no end after ${report.steps} steps`)
      if (report.outcome === "Connected") {
        assert.strictEqual(model.status, "CONNECTED")
        assert.isFalse(model.isBeingAggregated)
      } else {
        assert.strictEqual(report.outcome, "Stopped")
        assert.strictEqual(model.status, "DISCONTINUED")
      }
      assert.isFalse(model.calls.some((c) => c.op === "delete"), "never deletes")
      for (const call of calls) {
        if (call.op === "resume") assert.strictEqual(call.status, "CHALLENGED", "resumes only CHALLENGED")
        if (call.op === "aggregate") {
          assert.isFalse(call.afterCredentialUpdate, "no aggregate after an update started one")
        }
      }
      calls.forEach((call, i) => {
        if (call.op === "updateCredentials") assert.strictEqual(calls[i - 1]?.op, "listMemberCredentials")
      })
      for (const { action, status } of report.actions) {
        if (status === "EXPIRED") {
          assert.notStrictEqual(action._tag, "UpdateCredentials", "no credential prompt on EXPIRED")
        }
      }
    },
    { fastCheck: { numRuns: 300 } }
  )

  it("two-round MFA, a lock and an outage each resolve as the rules say", () => {
    const model = new Model.MxModel({ mfaRounds: 2, credentials: "valid", institution: "ok" })
    const report = Model.runAgent(model)
    assert.strictEqual(report.outcome, "Connected")
    assert.strictEqual(model.calls.filter((c) => c.op === "resume").length, 2)
    assert.strictEqual(model.aggregationsStarted, 1, "MFA rounds are one aggregation")

    const denied = new Model.MxModel({ mfaRounds: 0, credentials: "invalid", institution: "ok" })
    const fixed = Model.runAgent(denied)
    assert.strictEqual(fixed.outcome, "Connected")
    assert.deepStrictEqual(fixed.actions.map((a) => a.action._tag).filter((t) => t === "UpdateCredentials"), [
      "UpdateCredentials"
    ])
    assert.isFalse(
      denied.calls.some((c) => c.op === "aggregate"),
      "the credential update's own aggregation is followed"
    )
  })

  it("an MFA challenge left unanswered turns EXPIRED and needs a new aggregation with the user, not credentials", () => {
    const model = new Model.MxModel({ mfaRounds: 1, credentials: "valid", institution: "ok" })
    model.tick()
    assert.strictEqual(model.status, "CHALLENGED")
    for (let i = 0; i < model.mfaTimeoutTicks; i++) model.tick()
    assert.strictEqual(model.status, "EXPIRED")
    const report = Model.runAgent(model)
    assert.strictEqual(report.actions[0]!.action._tag, "StartNewAggregation")
    assert.strictEqual(report.outcome, "Connected")
  })
})
