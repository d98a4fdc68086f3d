import { assert, describe, it } from "@effect/vitest"
import * as Domain from "../src/index.js"

describe("the domain's exports", () => {
  it("no two modules export a function of one name (one name, one meaning: NextAction.decide, AggregationPolicy.evaluate)", () => {
    const modulesByName = new Map<string, Array<string>>()
    for (const [module, exports] of Object.entries(Domain)) {
      for (const [name, value] of Object.entries(exports as Record<string, unknown>)) {
        // Lower-case functions are the rules; upper-case names are Schemas and classes.
        if (typeof value === "function" && /^[a-z]/.test(name)) {
          modulesByName.set(name, [...(modulesByName.get(name) ?? []), module])
        }
      }
    }
    const shared = [...modulesByName].filter(([, modules]) => modules.length > 1)
    assert.deepStrictEqual(shared, [])
    assert.deepStrictEqual(modulesByName.get("decide"), ["NextAction"])
    assert.deepStrictEqual(modulesByName.get("evaluate"), ["AggregationPolicy"])
  })
})
