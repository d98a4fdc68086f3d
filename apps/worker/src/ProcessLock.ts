/**
 * One worker process per SQLite file. Two single-runner processes on one file would each believe they
 * own every shard of the workflow engine, and their runs would stall on each other's locks. Several
 * replicas need PostgreSQL (`DATABASE_URL`); on SQLite a second process refuses to start.
 *
 * @since 0.1.0
 */
import { Data, Effect, Layer } from "effect"
import { mkdirSync, readFileSync, unlinkSync, writeFileSync } from "node:fs"
import { dirname } from "node:path"

/**
 * Another live process holds the file.
 *
 * @since 0.1.0
 * @category errors
 */
export class DatabaseInUse
  extends Data.TaggedError("DatabaseInUse")<{ readonly filename: string; readonly pid: number }>
{
  override get message(): string {
    return `Another worker (pid ${this.pid}) is using the SQLite database ${this.filename}; ` +
      `run one process per SQLite file, or several replicas on PostgreSQL (DATABASE_URL)`
  }
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM"
  }
}

/**
 * Holds `<filename>.lock` (with this process's pid) for the layer's lifetime. A lock left by a dead
 * process (killed with SIGKILL) is taken over.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerSqlite = (filename: string): Layer.Layer<never, DatabaseInUse> =>
  Layer.scopedDiscard(Effect.acquireRelease(
    Effect.suspend(() => {
      const path = `${filename}.lock`
      mkdirSync(dirname(filename), { recursive: true })
      try {
        writeFileSync(path, String(process.pid), { flag: "wx" })
        return Effect.void
      } catch {
        const holder = Number.parseInt(readFileSync(path, "utf8"), 10)
        if (Number.isInteger(holder) && holder !== process.pid && alive(holder)) {
          return Effect.fail(new DatabaseInUse({ filename, pid: holder }))
        }
        writeFileSync(path, String(process.pid))
        return Effect.void
      }
    }),
    () =>
      Effect.sync(() => {
        const path = `${filename}.lock`
        try {
          if (readFileSync(path, "utf8") === String(process.pid)) unlinkSync(path)
        } catch {
          // already gone
        }
      })
  ))
