/**
 * Defects of the worker that the suite found: `true` while open, `false` once fixed. While a flag is
 * `true`, the trials work around the defect the way an operator would (and the figures still count
 * it); the `npm test` subset then checks that the defect shows only its known symptom. Set a flag to
 * `false` once the worker is fixed: the trials then expect the correct behaviour.
 */
export const knownDefects = {
  /**
   * The same MFA answers submitted again after the first submission got no response (its replica died
   * while MX's answer to the resume was on its way) resume the member again: the open round is still
   * offered, and `answerChallenges` calls MX's resume without checking that MX still asks it. MX
   * answers 405 (a resume outside CHALLENGED). Fixed: `answerChallenges` lists MX's challenges first;
   * when MX no longer asks the round it closes it as answered, wakes the run and refuses the answers
   * (409). While `true`, the kill trials tolerate that count and a test checks the exact symptom.
   */
  resubmittedAnswersResumeAgain: false,
  /**
   * A replica killed while MX's answer to an MFA resume is on its way (MX resumed, the worker never
   * heard back) leaves the answered round open: the restarted run keeps waiting on it, and the control
   * API keeps offering it. If MX asks a second round, the run's check ("still CHALLENGED?") cannot tell
   * and waits until the MFA timeout; a user who submits the stale round again gets a resume outside
   * CHALLENGED (405) or answers the wrong round. Fixed: the MFA wait compares MX's challenges with the
   * round it waits on. While `true`, the fast kills trial does not kill mid-resume and a test checks the
   * exact symptom.
   */
  answeredRoundLostInCrash: false,
  /**
   * A PostgreSQL outage leaves some runs stuck until the process restarts: an activity that ends while
   * the database is away cannot store its result; @effect/cluster's entity manager gives up after four
   * tries 200 ms apart and never delivers that activity again once the database is back, so its
   * workflow waits forever and the member stays claimed. Fixed: the engine's message storage waits
   * for a connection while PostgreSQL is unreachable (`Database.layerWaitingForConnection`), so the
   * result is stored once the database is back. While `true`, the trials restart the replicas after
   * the outage, as an operator would.
   */
  runsStuckAfterDatabaseRestart: false,
  /**
   * A run that fails (an MX error that outlasts the client's retries, such as a body that is not
   * JSON) is never retried: its member is left with no next due time. Fixed: retried with the
   * provider-trouble backoff. While `true`, the trials do what the member's user would: come back
   * (`POST /users/:guid/present`), which starts a new run.
   */
  failedRunsNeverRetried: false,
  /**
   * A second worker process on the same SQLite file (each a single runner, each sure it owns every
   * shard) breaks no MX rule but leaves runs stuck: workflow messages stay unprocessed ("database is
   * locked" from the cluster's message storage, and replies that are given up). The daemon should
   * refuse to start beside another on one SQLite file. Fixed: a second process refuses to start
   * (`<file>.lock`), which the split-brain trial checks. While `true`, the trial stops the second process.
   */
  secondProcessOnSqliteFile: false,
  /**
   * Replicas started at the same moment on a new PostgreSQL database: one may exit at start-up with
   * `duplicate key value violates unique constraint "pg_type_typname_nsp_index"`, because
   * @effect/cluster's SqlRunnerStorage creates `cluster_runners` with `CREATE TABLE IF NOT EXISTS`,
   * which PostgreSQL does not make safe against a concurrent creator. The worker's `Layer.retry` around
   * the engine (Worker.ts) does not help: @effect/platform-node's NodeClusterSocket.layer wraps
   * SqlRunnerStorage.layer and SqlMessageStorage.layer in `Layer.orDie`, so the error is a defect, which
   * `Layer.retry` does not retry. Fixed: the engine's start turns defects into failures before retrying
   * (the loser starts once the tables exist). While `true`, the trials start their replicas one after the
   * other.
   */
  concurrentStartOnNewDatabase: false
}
