import { expect, it } from "@effect/vitest"
import { NextAction } from "@mx-aggregation/domain"
import { Arbitraries, Model } from "@mx-aggregation/domain/testing"
import { FastCheck as fc } from "effect"

// Your own code: here, the message your UI shows for an action.
const myMessageFor = (action: NextAction.NextAction): string => NextAction.describe(action)

it.prop("my UI shows a message for every next action", [Arbitraries.observation], ([observation]) => {
  const action = NextAction.decide(observation)
  expect(myMessageFor(action)).toBeTruthy()
})

it.prop(
  "from any reachable MX state, an agent following NextAction connects or stops",
  [Model.environmentCommands()],
  ([commands]) => {
    const model = new Model.MxModel()
    fc.modelRun(() => ({ model: {}, real: model }), commands)
    const report = Model.runAgent(model)
    expect(report.outcome).not.toBe("StepLimit")
  }
)
