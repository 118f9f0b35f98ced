// Small pure helpers shared by the main thread and the commit worker, which keeps its imports light.
import type fs from "node:fs";

/**
 * Every rename-based write makes a new inode, and any write in place moves mtime and ctime (nanoseconds), so equal
 * identities mean the same bytes.
 */
export function fileIdentity(info: fs.BigIntStats): string {
  return `${info.dev}:${info.ino}:${info.size}:${info.mtimeNs}:${info.ctimeNs}`;
}

/** What a path holds when it is not a regular file, for the error that refuses it. */
export function describeFileType(info: fs.Stats | fs.BigIntStats): string {
  if (info.isFIFO()) return "a FIFO";
  if (info.isSocket()) return "a socket";
  if (info.isDirectory()) return "a directory";
  if (info.isCharacterDevice() || info.isBlockDevice()) return "a device";
  return "not a regular file";
}

/** Temp names a crashed writer leaves: `<file>.<uint32>` (write-file-atomic's and the commit worker's) and the backup's `<file>.bak.<hex>.tmp`. */
export function isTempName(fileName: string, candidate: string): boolean {
  if (!candidate.startsWith(`${fileName}.`)) return false;
  const suffix = candidate.slice(fileName.length + 1);
  return /^\d+$/.test(suffix) || /^bak\.[0-9a-f]+\.tmp$/.test(suffix);
}

/** The committed rev, from the head of the text: the header is written first. Undefined when it is not there. */
export function revFromHead(head: string): number | undefined {
  const match = /^\{\s*"schemaVersion":\s*\d+,\s*"rev":\s*(\d+),/.exec(head);
  return match ? Number(match[1]) : undefined;
}
