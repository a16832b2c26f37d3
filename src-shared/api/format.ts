// Human-readable sizes, rates and durations for every interface (GUI, job logs).
export function humanBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let value = bytes;
  let unit = 0;
  while (Math.abs(value) >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${Math.round(value)} B` : `${value.toFixed(Math.abs(value) < 10 ? 2 : 1)} ${units[unit]}`;
}

/** h:mm:ss or m:ss */
export function humanDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = s % 60;
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${String(rest).padStart(2, '0')}` : `${m}:${String(rest).padStart(2, '0')}`;
}

export function percent(done: number, total: number): number {
  if (total <= 0) return 0;
  return Math.max(0, Math.min(100, (done / total) * 100));
}

export function shortUid(uid: string): string {
  return uid.length > 8 ? uid.slice(0, 8) : uid;
}

/** "1 problem", "2 problems", "1,234 blocks". */
export function plural(count: number, word: string, pluralWord = `${word}s`): string {
  return `${count.toLocaleString('en-US')} ${count === 1 ? word : pluralWord}`;
}

const pad = (n: number): string => String(n).padStart(2, '0');

/**
 * Local time with its zone as an offset from UTC: "2026-01-15 11:20:30 UTC+01:00" ("UTC" when
 * the offset is zero); `minutes` leaves out the seconds. Machine output (--json) stays ISO.
 */
export function localTime(value: string | number | null | undefined, precision: 'seconds' | 'minutes' = 'seconds', withZone = true): string {
  if (value === null || value === undefined || value === '') return '—';
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) return String(value);
  const day = `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
  const time = `${pad(date.getHours())}:${pad(date.getMinutes())}${precision === 'seconds' ? `:${pad(date.getSeconds())}` : ''}`;
  return withZone ? `${day} ${time} ${zoneOf(date)}` : `${day} ${time}`;
}

/** The local zone at `date` as an offset from UTC: "UTC+01:00", or "UTC". */
export function zoneOf(date: Date = new Date()): string {
  const offset = -date.getTimezoneOffset();
  return offset === 0 ? 'UTC' : `UTC${offset > 0 ? '+' : '-'}${pad(Math.floor(Math.abs(offset) / 60))}:${pad(Math.abs(offset) % 60)}`;
}

/** "4M", "64K", "4194304", "1GiB" in bytes; null when the text is not a size. */
export function parseSize(text: string): number | null {
  const match = /^(\d+)\s*([kmgt]?)(i?b)?$/i.exec(text.trim());
  if (!match) return null;
  const power = ' kmgt'.indexOf((match[2] || ' ').toLowerCase());
  return Number(match[1]) * 1024 ** power;
}

/**
 * A name as a Blockvault version can hold it: `|` and control characters (newlines) would
 * break the pipe-separated lines scripts parse, so they arrive escaped as \xHH.
 */
export function escapeField(text: string): string {
  return text.replace(/[|\u0000-\u001f\u007f]/g, (ch) => `\\x${ch.charCodeAt(0).toString(16).padStart(2, '0')}`);
}
