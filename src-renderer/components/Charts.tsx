// SVG charts for the statistics screen: grouped bars per backup and a line over time.
// Presentation attributes only (no inline style sheets), so the strict CSP holds.
import { humanBytes } from '../../src-shared/api/format';

export interface Series {
  label: string;
  color: string;
  values: number[];
}

const WIDTH = 920;
const HEIGHT = 260;
const PAD = { left: 72, right: 12, top: 12, bottom: 48 };

function ticks(max: number): number[] {
  if (max <= 0) return [0];
  const step = max / 4;
  return [0, step, step * 2, step * 3, max];
}

function Axis({ max, labels }: { max: number; labels: string[] }) {
  const plotHeight = HEIGHT - PAD.top - PAD.bottom;
  const plotWidth = WIDTH - PAD.left - PAD.right;
  // As many labels as fit side by side (about 6.5 px per character at 11 px), never overlapping.
  const longest = Math.max(1, ...labels.map((label) => label.length));
  const fit = Math.max(1, Math.floor(plotWidth / (longest * 6.5 + 12)));
  const every = Math.max(1, Math.ceil(labels.length / fit));
  return (
    <g className="axis">
      {ticks(max).map((tick) => {
        const y = PAD.top + plotHeight - (max > 0 ? (tick / max) * plotHeight : 0);
        return (
          <g key={tick}>
            <line x1={PAD.left} x2={WIDTH - PAD.right} y1={y} y2={y} stroke="#e5e7eb" />
            <text x={PAD.left - 6} y={y + 4} textAnchor="end" fontSize="11" fill="#4b5563">{humanBytes(tick)}</text>
          </g>
        );
      })}
      {labels.map((label, i) =>
        i % every === 0 ? (
          <text key={i} x={PAD.left + ((i + 0.5) * plotWidth) / labels.length} y={HEIGHT - PAD.bottom + 16} textAnchor="middle" fontSize="11" fill="#4b5563">
            {label}
          </text>
        ) : null,
      )}
    </g>
  );
}

export function GroupedBars({ title, labels, series }: { title: string; labels: string[]; series: Series[] }) {
  const max = Math.max(1, ...series.flatMap((s) => s.values));
  const plotHeight = HEIGHT - PAD.top - PAD.bottom;
  const plotWidth = WIDTH - PAD.left - PAD.right;
  const groupWidth = plotWidth / Math.max(1, labels.length);
  const barWidth = Math.max(1, (groupWidth * 0.8) / series.length);
  return (
    <figure className="chart">
      <figcaption>{title}</figcaption>
      <svg viewBox={`0 0 ${WIDTH} ${HEIGHT}`} role="img" aria-label={title}>
        <Axis max={max} labels={labels} />
        {series.map((s, si) =>
          s.values.map((value, i) => {
            const height = (value / max) * plotHeight;
            return (
              <rect key={`${si}-${i}`} x={PAD.left + i * groupWidth + groupWidth * 0.1 + si * barWidth} y={PAD.top + plotHeight - height} width={barWidth} height={height} fill={s.color}>
                <title>{`${labels[i]} ${s.label}: ${humanBytes(value)}`}</title>
              </rect>
            );
          }),
        )}
      </svg>
      <Legend series={series} />
    </figure>
  );
}

export function LineChart({ title, labels, series, notes }: { title: string; labels: string[]; series: Series[]; notes?: string[] }) {
  const max = Math.max(1, ...series.flatMap((s) => s.values));
  const plotHeight = HEIGHT - PAD.top - PAD.bottom;
  const plotWidth = WIDTH - PAD.left - PAD.right;
  const x = (i: number): number => PAD.left + ((i + 0.5) * plotWidth) / Math.max(1, labels.length);
  const y = (value: number): number => PAD.top + plotHeight - (value / max) * plotHeight;
  return (
    <figure className="chart">
      <figcaption>{title}</figcaption>
      <svg viewBox={`0 0 ${WIDTH} ${HEIGHT}`} role="img" aria-label={title}>
        <Axis max={max} labels={labels} />
        {series.map((s) => (
          <g key={s.label}>
            <polyline fill="none" stroke={s.color} strokeWidth="2" points={s.values.map((v, i) => `${x(i)},${y(v)}`).join(' ')} />
            {s.values.map((v, i) => (
              <circle key={i} cx={x(i)} cy={y(v)} r="3" fill={s.color}>
                <title>{`${labels[i]}${notes?.[i] ? ` (${notes[i]})` : ''}: ${humanBytes(v)}`}</title>
              </circle>
            ))}
          </g>
        ))}
      </svg>
      <Legend series={series} />
    </figure>
  );
}

function Legend({ series }: { series: Series[] }) {
  return (
    <ul className="legend">
      {series.map((s) => (
        <li key={s.label}>
          <span className="swatch" style={{ background: s.color }} />
          {s.label}
        </li>
      ))}
    </ul>
  );
}
