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

/** "4M", "64K", "4194304", "1GiB" in bytes; null when the text is not a size. */
export function parseSize(text: string): number | null {
  const match = /^(\d+)\s*([kmgt]?)(i?b)?$/i.exec(text.trim());
  if (!match) return null;
  const power = ' kmgt'.indexOf((match[2] || ' ').toLowerCase());
  return Number(match[1]) * 1024 ** power;
}
