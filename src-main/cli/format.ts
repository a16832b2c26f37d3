// Text output of the CLI: sizes, durations, tables, machine lines, the progress bar.
import { humanBytes, humanDuration } from '../../src-shared/api/format';
import type { Progress } from '../../src-shared/model';

export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((header, i) => Math.max(header.length, ...rows.map((row) => row[i].length)));
  const line = (cells: string[]): string => cells.map((cell, i) => cell.padEnd(widths[i])).join('  ').trimEnd();
  return [line(headers), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

/** backy2's machine output: pipe-separated fields, no header. */
export function machineLines(rows: Array<Array<string | number | boolean>>): string {
  return rows.map((row) => row.map((cell) => String(cell)).join('|')).join('\n');
}

export interface ProgressBarOptions {
  /** the process title's text, as backy2's: `blockvault [Backup UID 12.3%]` (default: the label) */
  title?: string;
  /** writes a line to the log file: the first progress, every LOG_STEP percent and the end */
  log?: (text: string) => void;
}

/** Percent steps between progress lines in the log file. */
const LOG_STEP = 5;

export class ProgressBar {
  private lastLength = 0;
  private loggedStep = -1;
  private loggedFinal = false;
  title: string;
  private readonly log?: (text: string) => void;

  constructor(
    private readonly stream: NodeJS.WriteStream,
    private readonly label: string,
    options: ProgressBarOptions = {},
  ) {
    this.title = options.title ?? label.charAt(0).toUpperCase() + label.slice(1);
    this.log = options.log;
  }

  get enabled(): boolean {
    return Boolean(this.stream.isTTY);
  }

  update(progress: Progress): void {
    const fraction = progress.bytesTotal > 0 ? progress.bytesDone / progress.bytesTotal : progress.phase === 'done' ? 1 : 0;
    const percent = Math.floor(fraction * 100);
    process.title = `blockvault [${this.title} ${(fraction * 100).toFixed(1)}%]`;
    const eta = progress.eta === null ? '--:--' : humanDuration(progress.eta);
    const step = Math.floor(percent / LOG_STEP);
    const final = progress.phase === 'done' || progress.phase === 'failed' || progress.phase === 'canceled';
    if (this.log && (step > this.loggedStep || (final && !this.loggedFinal))) {
      this.loggedStep = step;
      this.loggedFinal ||= final;
      this.log(`${this.title} ${(fraction * 100).toFixed(1)}% ${humanBytes(progress.bytesDone)}/${humanBytes(progress.bytesTotal)} ${humanBytes(progress.rate)}/s ETA ${eta} ${progress.phase}`);
    }
    if (!this.enabled) return;
    const width = 30;
    const filled = Math.round(fraction * width);
    const text = `${this.label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${String(percent).padStart(3)}% ${humanBytes(progress.bytesDone)}/${humanBytes(progress.bytesTotal)} ${humanBytes(progress.rate)}/s ETA ${eta} ${progress.phase}`;
    this.stream.write(`\r${text.padEnd(this.lastLength)}`);
    this.lastLength = text.length;
  }

  end(): void {
    if (this.enabled && this.lastLength > 0) this.stream.write('\n');
    this.lastLength = 0;
  }
}
