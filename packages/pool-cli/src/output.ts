// Printing: tables and notes for people, JSON for machines, colour only on a terminal and never under NO_COLOR.
import type { CommandContext } from "./command.js";

export type Style = "green" | "yellow" | "red" | "dim" | "bold";

const CODES: Record<Style, [number, number]> = {
  green: [32, 39],
  yellow: [33, 39],
  red: [31, 39],
  dim: [2, 22],
  bold: [1, 22],
};

export interface Output {
  readonly color: boolean;
  readonly isTTY: boolean;
  /** Text for people, to stdout. */
  print(text: string): void;
  /** A JSON document, to stdout, one per invocation (or one per line for streams). */
  printJson(value: unknown, options?: { compact?: boolean }): void;
  /** Diagnostics and hints, to stderr. */
  note(text: string): void;
  paint(style: Style | undefined, text: string): string;
}

export function isTerminal(stream: NodeJS.WritableStream | NodeJS.ReadableStream): boolean {
  return (stream as { isTTY?: boolean }).isTTY === true;
}

/** Whether there is someone to ask: both stdin and stderr (where prompts go) are terminals. */
export function canPrompt(context: Pick<CommandContext, "stdin" | "stderr">): boolean {
  return isTerminal(context.stdin) && isTerminal(context.stderr);
}

/** One line typed at the terminal, trimmed. Echoed: only single-use TOTP codes and confirmations are asked this way. */
export async function promptLine(context: Pick<CommandContext, "stdin" | "stderr">, question: string): Promise<string> {
  const { createInterface } = await import("node:readline/promises");
  const reader = createInterface({ input: context.stdin, output: context.stderr, terminal: true });
  try {
    return (await reader.question(question)).trim();
  } finally {
    reader.close();
  }
}

/** https://no-color.org: present and not empty disables colour. */
export function colorEnabled(context: Pick<CommandContext, "env" | "stdout">): boolean {
  const { env } = context;
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== "") return false;
  if (env.TERM === "dumb") return false;
  return isTerminal(context.stdout);
}

export function createOutput(context: Pick<CommandContext, "env" | "stdout" | "stderr">): Output {
  const color = colorEnabled(context);
  const paint = (style: Style | undefined, text: string): string => {
    if (!color || style === undefined || text === "") return text;
    const [open, close] = CODES[style];
    return `\u001b[${open}m${text}\u001b[${close}m`;
  };
  return {
    color,
    isTTY: isTerminal(context.stdout),
    print: (text) => context.stdout.write(text.endsWith("\n") ? text : `${text}\n`),
    printJson: (value, options = {}) =>
      context.stdout.write(`${options.compact ? JSON.stringify(value) : JSON.stringify(value, null, 2)}\n`),
    note: (text) => context.stderr.write(text.endsWith("\n") ? text : `${text}\n`),
    paint,
  };
}

export interface Cell {
  readonly text: string;
  readonly style?: Style;
}

export type Row = readonly (Cell | string)[];

/**
 * Left-aligned columns, two spaces apart; widths come from the plain text so colour never breaks alignment.
 * With `fit`, the `shrink` column is cut (ending in "…") so rows fit a terminal `fit` columns wide.
 */
export function renderTable(
  output: Output,
  headers: readonly string[],
  rows: readonly Row[],
  options: { fit?: number | undefined; shrink?: number } = {},
): string {
  let cells = rows.map((row) => row.map((cell) => (typeof cell === "string" ? { text: cell } : cell)));
  const widthsOf = (table: readonly (readonly Cell[])[]): number[] =>
    headers.map((header, column) => Math.max(header.length, ...table.map((row) => row[column]?.text.length ?? 0)));
  let widths = widthsOf(cells);
  const { fit, shrink } = options;
  if (fit !== undefined && shrink !== undefined) {
    const total = widths.reduce((sum, width) => sum + width, 0) + 2 * (widths.length - 1);
    const room = (widths[shrink] ?? 0) - Math.max(0, total - fit);
    const limit = Math.max(headers[shrink]?.length ?? 0, 24, room);
    cells = cells.map((row) =>
      row.map((cell, column) =>
        column === shrink && cell.text.length > limit ? { ...cell, text: `${cell.text.slice(0, limit - 1)}…` } : cell,
      ),
    );
    widths = widthsOf(cells);
  }
  const line = (row: readonly Cell[]): string =>
    row
      .map((cell, column) => {
        const padded = column === row.length - 1 ? cell.text : cell.text.padEnd(widths[column] ?? 0);
        return output.paint(cell.style, padded);
      })
      .join("  ")
      .trimEnd();
  return [line(headers.map((text) => ({ text, style: "bold" as const }))), ...cells.map(line)].join("\n");
}

/** The terminal's width, when stdout is one. */
export function terminalColumns(stream: NodeJS.WritableStream): number | undefined {
  const columns = (stream as { columns?: number; isTTY?: boolean }).columns;
  return isTerminal(stream) && typeof columns === "number" && columns > 0 ? columns : undefined;
}

/** `41m`, `2h 5m`, `3d 4h`, `12s`: two units at most, rounded up so "0s" never shows for time still left. */
export function formatDuration(ms: number): string {
  const seconds = Math.max(0, Math.ceil(ms / 1000));
  if (seconds < 60) return `${seconds}s`;
  const minutes = Math.ceil(seconds / 60);
  if (minutes < 60) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return minutes % 60 === 0 ? `${hours}h` : `${hours}h ${minutes % 60}m`;
  const days = Math.floor(hours / 24);
  return hours % 24 === 0 ? `${days}d` : `${days}d ${hours % 24}h`;
}

export function formatAgo(at: number | undefined, now: number): string {
  if (at === undefined) return "never";
  const ms = now - at;
  if (ms < 1000) return "just now";
  return `${formatDuration(ms).replace(/ .*/, "")} ago`;
}

export function isoOrNull(at: number | undefined): string | null {
  return at === undefined ? null : new Date(at).toISOString();
}

/** Single-quotes a value for POSIX shells. */
export function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}
