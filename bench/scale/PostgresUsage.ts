/**
 * CPU time of a PostgreSQL server running on this machine, from `/proc`: the postmaster, its live
 * processes (backends, background workers) and those it has reaped (a backend's CPU moves to its
 * parent's `cutime` when its connection closes).
 *
 * @since 0.1.0
 */
import { readdirSync, readFileSync } from "node:fs"
import { procStat } from "../SandboxProcess.js"

const isLocal = (host: string) => host === "127.0.0.1" || host === "localhost" || host === "[::1]"

const pids = (): ReadonlyArray<number> => {
  try {
    return readdirSync("/proc").filter((name) => /^\d+$/.test(name)).map(Number)
  } catch {
    return []
  }
}

/**
 * The pid of the postmaster listening on the port of `url` (a server on 127.0.0.1), or null.
 *
 * @since 0.1.0
 * @category measurement
 */
export const postmasterOf = (url: string): number | null => {
  const { hostname, port } = new URL(url)
  if (!isLocal(hostname)) return null
  const wanted = port === "" ? "5432" : port
  for (const pid of pids()) {
    try {
      const argv = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0")
      if (!/(^|\/)postgres$/.test(argv[0] ?? "")) continue
      const p = argv.indexOf("-p")
      if (p !== -1 && argv[p + 1] === wanted) return pid
    } catch {
      // Gone, or not ours to read.
    }
  }
  return null
}

/**
 * The data directory (`-D`) of a running postmaster, or null.
 *
 * @since 0.1.0
 * @category measurement
 */
export const dataDirOf = (postmaster: number): string | null => {
  try {
    const argv = readFileSync(`/proc/${postmaster}/cmdline`, "utf8").split("\0")
    const d = argv.indexOf("-D")
    return d === -1 ? null : argv[d + 1] ?? null
  } catch {
    return null
  }
}

/**
 * Whether the process is still there.
 *
 * @since 0.1.0
 * @category measurement
 */
export const alive = (pid: number): boolean => procStat(pid) !== null

/**
 * CPU milliseconds the server has used so far (null when the postmaster is gone).
 *
 * @since 0.1.0
 * @category measurement
 */
export const cpuMs = (postmaster: number): number | null => {
  const own = procStat(postmaster)
  if (own === null) return null
  let total = own.cpuMs + own.reapedChildrenCpuMs
  for (const pid of pids()) {
    const stat = procStat(pid)
    if (stat !== null && stat.ppid === postmaster) total += stat.cpuMs
  }
  return total
}
