export * from "./errors.js";
export { randomId } from "./ids.js";
export * from "./store/index.js";
export * from "./pool/index.js";
export * from "./doctor/index.js";
export * from "./refresh/index.js";
export * from "./sources/index.js";
export * from "./auth/index.js";
export * from "./config/index.js";
