import { assert, describe, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import { NextAction } from "../src/index.js"
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

/** Runs the environment's commands on a model, then an agent following NextAction, checking MX's rules. */
const runAndCheck = (initialBank: Model.Bank, commands: Iterable<fc.Command<object, Model.MxModel>>) => {
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
  return { model, report }
}

describe("a partner following NextAction against MX's model", () => {
  it.prop(
    "reaches CONNECTED or a documented end state from any reachable state, breaking no MX rule",
    [bank, Model.environmentCommands(40)],
    ([initialBank, commands]) => void runAndCheck(initialBank, commands),
    { fastCheck: { numRuns: 300 } }
  )

  it("the model-based run covers MFA after a past success and DENIED after a password change", () => {
    const command = (name: string, apply: (m: Model.MxModel) => void) => new Model.EnvironmentCommand(name, apply)
    const tick = command("tick", (m) => m.tick())
    const aggregate = command("aggregate", (m) => m.aggregate())
    const ok: Model.Bank = { mfaRounds: 0, credentials: "valid", institution: "ok" }

    const mfa = runAndCheck({ ...ok }, [
      tick,
      tick,
      command("mfaRounds(1)", (m) => void (m.bank.mfaRounds = 1)),
      aggregate
    ])
    assert.isNotNull(mfa.model.successfullyAggregatedAt)
    assert.deepStrictEqual(mfa.report.actions.map((a) => a.action._tag), ["AnswerChallenges", "PullData"])

    const denied = runAndCheck({ ...ok }, [
      tick,
      tick,
      command("credentials(invalid)", (m) => void (m.bank.credentials = "invalid")),
      aggregate
    ])
    assert.deepStrictEqual(denied.report.actions.map((a) => [a.status, a.action._tag]), [
      ["DENIED", "UpdateCredentials"],
      ["CONNECTED", "PullData"]
    ])
  })

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

  it("re-aggregating a CONNECTED member consults the bank: MFA after a past success", () => {
    const model = new Model.MxModel({ mfaRounds: 0, credentials: "valid", institution: "ok" })
    assert.strictEqual(Model.runAgent(model).outcome, "Connected")
    const firstSuccess = model.successfullyAggregatedAt
    model.bank.mfaRounds = 1
    model.aggregate()
    model.tick()
    assert.strictEqual(model.status, "CHALLENGED", "the new aggregation asks for MFA")
    const before = model.calls.length
    const report = Model.runAgent(model)
    assert.strictEqual(report.outcome, "Connected")
    assert.deepStrictEqual(model.calls.slice(before).filter((c) => c.op === "resume").length, 1)
    assert.isAbove(model.successfullyAggregatedAt!, firstSuccess!)
  })

  it("re-aggregating a CONNECTED member after a password change at the bank turns DENIED", () => {
    const model = new Model.MxModel({ mfaRounds: 0, credentials: "valid", institution: "ok" })
    assert.strictEqual(Model.runAgent(model).outcome, "Connected")
    model.bank.credentials = "invalid"
    model.aggregate()
    // The past CONNECTED is left over while the new job runs: not an outcome.
    assert.strictEqual(NextAction.decide(model.observe())._tag, "KeepPolling")
    model.tick()
    assert.strictEqual(model.status, "DENIED")
    const report = Model.runAgent(model)
    assert.strictEqual(report.actions[0]!.action._tag, "UpdateCredentials")
    assert.strictEqual(report.outcome, "Connected")
    // And a lock at the bank shows too.
    model.bank.institution = "locked"
    model.aggregate()
    model.tick()
    assert.strictEqual(model.status, "LOCKED")
  })

  it.prop(
    "re-aggregating a CONNECTED member ends as the bank says now, not as the last aggregation did",
    [bank],
    ([next]) => {
      const model = new Model.MxModel({ mfaRounds: 0, credentials: "valid", institution: "ok" })
      Model.runAgent(model)
      Object.assign(model.bank, next)
      model.aggregate()
      model.tick()
      const expected = next.institution === "discontinued"
        ? "DISCONTINUED"
        : next.credentials === "missing"
        ? "IMPAIRED"
        : next.credentials === "invalid"
        ? "DENIED"
        : next.institution === "locked"
        ? "LOCKED"
        : next.institution === "impeded"
        ? "IMPEDED"
        : next.institution === "down"
        ? "FAILED"
        : next.mfaRounds > 0
        ? "CHALLENGED"
        : "CONNECTED"
      assert.strictEqual(model.status, expected)
      if (expected === "CONNECTED") {
        assert.isTrue(model.isBeingAggregated, "the job finishes on the next tick")
        model.tick()
        assert.isFalse(model.isBeingAggregated)
      }
    }
  )

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
