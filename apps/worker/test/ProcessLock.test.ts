import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Layer } from "effect"
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as ProcessLock from "../src/ProcessLock.js"

const hold = (filename: string) => Effect.scoped(Layer.build(ProcessLock.layerSqlite(filename)))

describe("ProcessLock", () => {
  it.effect("refuses a SQLite file another live process holds, takes over one a dead process left", () =>
    Effect.gen(function*() {
      const filename = join(mkdtempSync(join(tmpdir(), "lock-")), "data", "worker.db")
      // Free: taken, and released on close.
      yield* hold(filename)
      // Held by a live process (pid 1 is always alive): refused, naming the pid and the way out.
      writeFileSync(`${filename}.lock`, "1")
      const refused = yield* Effect.exit(hold(filename))
      assert.isTrue(Exit.isFailure(refused))
      if (Exit.isFailure(refused)) {
        const error = String(refused.cause)
        assert.include(error, "pid 1")
        assert.include(error, "DATABASE_URL")
      }
      // Left by a dead process: taken over.
      writeFileSync(`${filename}.lock`, "999999999")
      yield* Effect.scoped(Effect.gen(function*() {
        yield* Layer.build(ProcessLock.layerSqlite(filename))
        assert.strictEqual(readFileSync(`${filename}.lock`, "utf8"), String(process.pid))
      }))
    }))
})
