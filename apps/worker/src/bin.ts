#!/usr/bin/env -S npx tsx
/**
 * The `mx-aggregation` command: `npx tsx apps/worker/src/bin.ts <command> …` (see `cli/Cli.ts`).
 * Exits 0 on success, 1 when a command failed, 2 on invalid arguments; SIGINT/SIGTERM stop the
 * long-running commands (worker, sandbox) cleanly.
 *
 * @since 0.1.0
 */
import { NodeContext, NodeHttpClient, NodeRuntime } from "@effect/platform-node"
import { Cause, Effect, Exit, Layer } from "effect"
import * as Cli from "./cli/Cli.js"
import * as PromptTerminal from "./cli/PromptTerminal.js"
import * as StandardInput from "./cli/StandardInput.js"

Cli.main(process.argv).pipe(
  Effect.provide(PromptTerminal.layer),
  Effect.provide(Layer.mergeAll(NodeContext.layer, NodeHttpClient.layerUndici, StandardInput.layer)),
  (program) =>
    NodeRuntime.runMain(program, {
      disableErrorReporting: true,
      // The code `main` chose; 0 after SIGINT/SIGTERM (an interrupted daemon stopped as asked).
      teardown: (exit, onExit) =>
        onExit(
          Exit.isSuccess(exit)
            ? (typeof exit.value === "number" ? exit.value : 0)
            : Cause.isInterruptedOnly(exit.cause)
            ? 0
            : 1
        )
    })
)
