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

export class ProgressBar {
  private lastLength = 0;

  constructor(
    private readonly stream: NodeJS.WriteStream,
    private readonly label: string,
  ) {}

  get enabled(): boolean {
    return Boolean(this.stream.isTTY);
  }

  update(progress: Progress): void {
    const fraction = progress.bytesTotal > 0 ? progress.bytesDone / progress.bytesTotal : progress.phase === 'done' ? 1 : 0;
    const percent = Math.floor(fraction * 100);
    process.title = `blockvault ${this.label} ${percent}% ${progress.phase}`;
    if (!this.enabled) return;
    const width = 30;
    const filled = Math.round(fraction * width);
    const eta = progress.eta === null ? '--:--' : humanDuration(progress.eta);
    const text = `${this.label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${String(percent).padStart(3)}% ${humanBytes(progress.bytesDone)}/${humanBytes(progress.bytesTotal)} ${humanBytes(progress.rate)}/s ETA ${eta} ${progress.phase}`;
    this.stream.write(`\r${text.padEnd(this.lastLength)}`);
    this.lastLength = text.length;
  }

  end(): void {
    if (this.enabled && this.lastLength > 0) this.stream.write('\n');
    this.lastLength = 0;
  }
}
