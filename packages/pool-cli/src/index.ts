// pool-cli's public API: run the CLI in-process, and the exit code it gives each error.
export { main } from "./main.js";
export { exitCodeFor } from "./exit-codes.js";
