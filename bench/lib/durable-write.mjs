// A durable rename-based write with plain synchronous node:fs, as anyone would write it without a library: the floor
// the store's figures are compared with, and the naive script's write.
import { closeSync, fsyncSync, openSync, renameSync, writeSync } from "node:fs";
import { dirname } from "node:path";

/** Writes `text` to `temp`, fsyncs it, renames it over `path`, and fsyncs the directory. */
export function writeDurablySync(path, temp, text) {
  const fd = openSync(temp, "w", 0o600);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(temp, path);
  const dir = openSync(dirname(path), "r");
  try {
    fsyncSync(dir);
  } finally {
    closeSync(dir);
  }
}
