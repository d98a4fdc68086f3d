/**
 * The worker daemon's entry point: `npm start`. SIGINT/SIGTERM close every scope and exit 0.
 *
 * @since 0.1.0
 */
import { NodeRuntime } from "@effect/platform-node"
import { Layer } from "effect"
import { MainLive } from "./Daemon.js"

NodeRuntime.runMain(Layer.launch(MainLive))
