// A disk's versions on a time axis, each marked kept (green, above the axis) or removed (red,
// below), with the reason of the rule that decided; the list below says the same in words.
import type { PruneDecision } from '../../../src-shared/api/policy';
import { formatDate } from '../../components/common';

const WIDTH = 900;
const HEIGHT = 120;
const PAD = 24;

function ticks(from: number, to: number): Array<{ at: number; label: string }> {
  const span = to - from;
  const day = 86_400_000;
  const step = span > 400 * day ? 'year' : span > 60 * day ? 'month' : span > 3 * day ? 'day' : 'hour';
  const out: Array<{ at: number; label: string }> = [];
  const d = new Date(from);
  if (step === 'year') d.setUTCMonth(0, 1);
  if (step !== 'hour') d.setUTCHours(0, 0, 0, 0);
  else d.setUTCMinutes(0, 0, 0);
  if (step === 'month') d.setUTCDate(1);
  while (d.getTime() <= to && out.length < 40) {
    if (d.getTime() >= from) {
      const iso = d.toISOString();
      out.push({ at: d.getTime(), label: step === 'year' ? iso.slice(0, 4) : step === 'month' ? iso.slice(0, 7) : step === 'day' ? iso.slice(5, 10) : iso.slice(11, 16) });
    }
    if (step === 'year') d.setUTCFullYear(d.getUTCFullYear() + 1);
    else if (step === 'month') d.setUTCMonth(d.getUTCMonth() + 1);
    else if (step === 'day') d.setUTCDate(d.getUTCDate() + Math.max(1, Math.round(span / day / 12)));
    else d.setUTCHours(d.getUTCHours() + Math.max(1, Math.round(span / 3_600_000 / 12)));
  }
  return out;
}

export function RetentionTimeline({ decisions }: { decisions: PruneDecision[] }) {
  if (decisions.length === 0) return <p className="muted">This disk has no versions yet.</p>;
  const times = decisions.map((d) => Date.parse(d.date));
  const from = Math.min(...times);
  const to = Math.max(...times);
  const span = Math.max(to - from, 3_600_000);
  const x = (t: number): number => PAD + ((t - from) / span) * (WIDTH - 2 * PAD);
  const axis = HEIGHT / 2;
  return (
    <div className="retention-preview">
      <svg viewBox={`0 0 ${WIDTH} ${HEIGHT}`} role="img" aria-label={`${decisions.filter((d) => d.keep).length} versions kept, ${decisions.filter((d) => !d.keep).length} removed`} className="retention-timeline">
        <line x1={PAD} x2={WIDTH - PAD} y1={axis} y2={axis} className="axis" />
        {ticks(from, to).map((t) => (
          <g key={t.at}>
            <line x1={x(t.at)} x2={x(t.at)} y1={axis - 4} y2={axis + 4} className="axis" />
            <text x={x(t.at)} y={HEIGHT - 4} textAnchor="middle" className="tick">{t.label}</text>
          </g>
        ))}
        {decisions.map((d) => (
          <line key={d.uid} x1={x(Date.parse(d.date))} x2={x(Date.parse(d.date))} y1={axis} y2={d.keep ? axis - 34 : axis + 22} className={d.keep ? 'kept' : 'removed'}>
            <title>{`${formatDate(d.date)} ${d.uid.slice(0, 8)}: ${d.reason}`}</title>
          </line>
        ))}
        {decisions.map((d) => (
          <circle key={`${d.uid}-dot`} cx={x(Date.parse(d.date))} cy={d.keep ? axis - 34 : axis + 22} r={3.5} className={d.keep ? 'kept' : 'removed'}>
            <title>{`${formatDate(d.date)} ${d.uid.slice(0, 8)}: ${d.reason}`}</title>
          </circle>
        ))}
        <text x={PAD} y={14} className="legend kept">● kept</text>
        <text x={PAD + 60} y={14} className="legend removed">● removed</text>
      </svg>
      <div className="retention-list">
        <table className="table compact">
          <thead><tr><th>Date</th><th>Version</th><th>Action</th><th>Why</th></tr></thead>
          <tbody>
            {decisions.map((d) => (
              <tr key={d.uid} className={d.keep ? 'kept' : 'removed'}>
                <td>{formatDate(d.date)}</td>
                <td className="mono">{d.uid.slice(0, 8)}</td>
                <td>{d.keep ? 'keep' : 'remove'}</td>
                <td>{d.reason.replace(/^(kept|removed): /, '')}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </div>
  );
}
