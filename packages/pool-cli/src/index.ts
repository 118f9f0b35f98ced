export { main } from "./main.js";
export { exitCodeFor } from "./exit-codes.js";
