import { assert, describe, it } from "@effect/vitest"
import { readFileSync } from "node:fs"

const read = (relative: string) => readFileSync(new URL(relative, import.meta.url), "utf8")

/** The first ```ts block after a README heading. */
const exampleUnder = (readme: string, heading: string): string => {
  const at = readme.indexOf(`\n${heading}\n`)
  assert.isAtLeast(at, 0, `README has no heading ${heading}`)
  const block = /```ts\n([\s\S]*?)```/.exec(readme.slice(at))
  assert.isNotNull(block, `no ts example under ${heading}`)
  return block![1]!
}

describe("README", () => {
  // The example itself runs as test/readme/PropertyTesting.test.ts (and is type-checked with the
  // package's tests); this keeps the README's copy identical to it, so a broken example fails.
  it("the property-testing example is test/readme/PropertyTesting.test.ts, verbatim", () => {
    const readme = read("../README.md")
    const example = exampleUnder(readme, "## Property-testing your own code")
    assert.strictEqual(example.trim(), read("./readme/PropertyTesting.test.ts").trim())
  })
})
