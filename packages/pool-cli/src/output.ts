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

// eslint-disable-next-line no-control-regex
const CONTROL_CHARACTER = /[\x00-\x1f\x7f-\x9f]/g;
// JSON.stringify escapes C0 controls itself, but not DEL or C1 (U+009B is a CSI to some terminals).
const JSON_UNESCAPED_CONTROL = /[\x7f-\x9f]/g;

/**
 * Text from the pool as a terminal may show it: every control character (C0, DEL, C1) written as a visible escape
 * such as `\x1b`, so a stored message, label or model name cannot set a window title, write the clipboard or clear
 * the screen. Stored text is already stripped at the boundary; this also covers what an older build stored.
 */
export function escapeControls(text: string): string {
  return text.replace(CONTROL_CHARACTER, (char) => `\\x${char.charCodeAt(0).toString(16).padStart(2, "0")}`);
}

function stringifyJson(value: unknown, compact: boolean | undefined): string {
  const text = compact ? JSON.stringify(value) : JSON.stringify(value, null, 2);
  return text.replace(JSON_UNESCAPED_CONTROL, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, "0")}`);
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
    printJson: (value, options = {}) => context.stdout.write(`${stringifyJson(value, options.compact)}\n`),
    note: (text) => context.stderr.write(text.endsWith("\n") ? text : `${text}\n`),
    paint,
  };
}

export interface Cell {
  readonly text: string;
  readonly style?: Style;
}

export type Row = readonly (Cell | string)[];

/** How a table fits a terminal, the way `gh` fits its tables. */
export interface TableFit {
  /** The terminal's width in columns. */
  readonly width: number;
  /** Columns (by index) left out, first to last, until the rest fit. */
  readonly drop?: readonly number[];
  /** Columns cut with "…", sharing what room is left, when leaving columns out is not enough. */
  readonly shrink?: readonly number[];
}

/** A cut column keeps at least this much (or its header), so what is left of a label still says something. */
const MIN_SHRUNK_WIDTH = 8;

/**
 * Left-aligned columns, two spaces apart; widths come from the plain text so colour never breaks alignment.
 * With `fit`, columns are left out and then cut so that rows fit the terminal instead of wrapping.
 */
export function renderTable(
  output: Output,
  headers: readonly string[],
  rows: readonly Row[],
  options: { fit?: TableFit | undefined } = {},
): string {
  const table = rows.map((row) =>
    row.map((cell) =>
      typeof cell === "string" ? { text: escapeControls(cell) } : { ...cell, text: escapeControls(cell.text) },
    ),
  );
  const natural = headers.map((header, column) =>
    Math.max(header.length, ...table.map((row) => row[column]?.text.length ?? 0)),
  );
  const limits = options.fit ? fitColumns(headers, natural, options.fit) : natural;
  const shown = headers.map((_, column) => column).filter((column) => limits[column] !== undefined);
  const cut = (cell: Cell, limit: number): Cell =>
    cell.text.length > limit ? { ...cell, text: `${cell.text.slice(0, limit - 1)}…` } : cell;
  const cells = table.map((row) => shown.map((column) => cut(row[column] ?? { text: "" }, limits[column] ?? 0)));
  const widths = shown.map((column, index) =>
    Math.max(headers[column]?.length ?? 0, ...cells.map((row) => row[index]?.text.length ?? 0)),
  );
  const line = (row: readonly Cell[]): string =>
    row
      .map((cell, index) => {
        const padded = index === row.length - 1 ? cell.text : cell.text.padEnd(widths[index] ?? 0);
        return output.paint(cell.style, padded);
      })
      .join("  ")
      .trimEnd();
  const header = shown.map((column) => ({ text: headers[column] ?? "", style: "bold" as const }));
  return [line(header), ...cells.map(line)].join("\n");
}

/** Each column's width limit after fitting, or undefined for a column left out. */
function fitColumns(headers: readonly string[], natural: readonly number[], fit: TableFit): (number | undefined)[] {
  const limits: (number | undefined)[] = [...natural];
  const total = (): number => {
    const widths = limits.filter((width): width is number => width !== undefined);
    return widths.reduce((sum, width) => sum + width, 0) + 2 * (widths.length - 1);
  };
  for (const column of fit.drop ?? []) {
    if (total() <= fit.width) return limits;
    limits[column] = undefined;
  }
  const excess = total() - fit.width;
  if (excess <= 0) return limits;
  // Share the room the other columns leave, narrowest first: one that needs less than its share keeps its
  // whole width and passes the rest on.
  const shrinking = (fit.shrink ?? []).filter((column) => limits[column] !== undefined);
  let room = shrinking.reduce((sum, column) => sum + (limits[column] ?? 0), 0) - excess;
  const byWidth = [...shrinking].sort((a, b) => (natural[a] ?? 0) - (natural[b] ?? 0));
  byWidth.forEach((column, index) => {
    const share = Math.floor(room / (byWidth.length - index));
    const floor = Math.max(headers[column]?.length ?? 0, MIN_SHRUNK_WIDTH);
    const width = Math.min(natural[column] ?? 0, Math.max(share, floor));
    limits[column] = width;
    room -= width;
  });
  return limits;
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
