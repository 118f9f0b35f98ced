/* global process */
// Preloaded (`node -r`) into children that run under a file-size limit: with SIGXFSZ handled, a write past the
// limit is a short write followed by EFBIG, the same path a full disk takes, instead of killing the process.
process.on("SIGXFSZ", () => {});
