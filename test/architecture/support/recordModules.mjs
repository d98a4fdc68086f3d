// Preloaded with `node --import` (through NODE_OPTIONS): records the URL of every module the process
// resolves, one per line, in the file named by MX_TEST_MODULES_LOG.
import { register } from "node:module"

register("./recordModulesHooks.mjs", import.meta.url)
