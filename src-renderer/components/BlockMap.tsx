// Block map: every block of a version as one cell of a canvas, coloured by a state code.
// The cells are painted once into an offscreen image (one pixel per block, so 262,144 blocks
// are a 512x512-ish bitmap) and the visible canvas draws that image scaled: zoom and pan
// cost one drawImage, not a DOM node per block. Mouse: hover shows the block, the wheel
// zooms around the pointer, dragging pans. Keyboard: arrows move the block cursor, + and -
// zoom, 0 resets.
import { useCallback, useEffect, useMemo, useRef, useState, type KeyboardEvent, type ReactNode } from 'react';

export interface LegendEntry {
  code: number;
  label: string;
  color: string;
}

export interface BlockMapProps {
  states: ArrayLike<number>;
  legend: LegendEntry[];
  /** accessible name, e.g. "Block map of version ..." */
  label: string;
  /** tallest the canvas gets, in CSS pixels */
  maxHeight?: number;
  /** text shown for the block under the pointer or the cursor */
  describe?: (idx: number) => ReactNode;
  onInspect?: (idx: number | null) => void;
}

const MAX_CELL = 28;
const MAX_ZOOM = 64;
/** lone-block markers drawn at most, so a fragmented map stays fast to draw */
const MAX_MARKERS = 20_000;

/** #rrggbb -> 0xAABBGGRR (ImageData's byte order on little-endian machines). */
function rgba(color: string): number {
  const value = parseInt(color.slice(1), 16);
  const r = (value >> 16) & 255;
  const g = (value >> 8) & 255;
  const b = value & 255;
  return ((255 << 24) | (b << 16) | (g << 8) | r) >>> 0;
}

export function mapLayout(count: number, width: number, maxHeight: number): { cell: number; columns: number; rows: number } {
  if (count === 0) return { cell: MAX_CELL, columns: 1, rows: 0 };
  const cell = Math.max(1, Math.min(MAX_CELL, Math.floor(Math.sqrt((width * maxHeight) / count))));
  const columns = Math.max(1, Math.min(count, Math.floor(width / cell)));
  return { cell, columns, rows: Math.ceil(count / columns) };
}

export function BlockMap({ states, legend, label, maxHeight = 360, describe, onInspect }: BlockMapProps) {
  const wrapRef = useRef<HTMLDivElement>(null);
  const canvasRef = useRef<HTMLCanvasElement>(null);
  const [width, setWidth] = useState(800);
  const [zoom, setZoom] = useState(1);
  const [pan, setPan] = useState({ x: 0, y: 0 });
  const [pointer, setPointer] = useState<{ idx: number; x: number; y: number } | null>(null);
  const [cursor, setCursor] = useState<number | null>(null);
  const [drawMs, setDrawMs] = useState<number | null>(null);
  const drag = useRef<{ x: number; y: number } | null>(null);
  const count = states.length;

  useEffect(() => {
    const wrap = wrapRef.current;
    if (!wrap) return;
    const observer = new ResizeObserver((entries) => setWidth(Math.max(120, Math.floor(entries[0].contentRect.width))));
    observer.observe(wrap);
    return () => observer.disconnect();
  }, []);

  const layout = useMemo(() => mapLayout(count, width, maxHeight), [count, width, maxHeight]);
  const viewHeight = Math.max(24, Math.min(maxHeight, layout.rows * layout.cell));
  const scale = layout.cell * zoom;

  // One pixel per block.
  const image = useMemo(() => {
    const started = performance.now();
    const canvas = document.createElement('canvas');
    canvas.width = layout.columns;
    canvas.height = Math.max(1, layout.rows);
    const context = canvas.getContext('2d');
    if (!context || count === 0) return { canvas, ms: 0 };
    const data = context.createImageData(canvas.width, canvas.height);
    const pixels = new Uint32Array(data.data.buffer);
    const palette = new Uint32Array(256);
    for (const entry of legend) palette[entry.code & 255] = rgba(entry.color);
    for (let idx = 0; idx < count; idx++) pixels[idx] = palette[states[idx] & 255];
    context.putImageData(data, 0, 0);
    return { canvas, ms: performance.now() - started };
  }, [states, count, legend, layout.columns, layout.rows]);

  const clampPan = useCallback(
    (x: number, y: number, s: number) => ({
      x: Math.max(0, Math.min(x, layout.columns * s - width)),
      y: Math.max(0, Math.min(y, layout.rows * s - viewHeight)),
    }),
    [layout.columns, layout.rows, width, viewHeight],
  );

  useEffect(() => {
    setZoom(1);
    setPan({ x: 0, y: 0 });
    setCursor(null);
  }, [states]);

  useEffect(() => {
    const canvas = canvasRef.current;
    if (!canvas) return;
    const started = performance.now();
    const ratio = window.devicePixelRatio || 1;
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(viewHeight * ratio);
    const context = canvas.getContext('2d');
    if (!context) return;
    context.setTransform(ratio, 0, 0, ratio, 0, 0);
    context.imageSmoothingEnabled = false;
    context.fillStyle = '#ffffff';
    context.fillRect(0, 0, width, viewHeight);
    context.drawImage(image.canvas, -pan.x, -pan.y, layout.columns * scale, Math.max(1, layout.rows) * scale);
    if (scale >= 6) {
      // Grid lines between cells once they are big enough to tell apart.
      context.strokeStyle = 'rgba(255,255,255,0.9)';
      context.lineWidth = 1;
      context.beginPath();
      const firstColumn = Math.floor(pan.x / scale);
      const lastColumn = Math.min(layout.columns, Math.ceil((pan.x + width) / scale));
      for (let column = firstColumn; column <= lastColumn; column++) {
        const x = Math.round(column * scale - pan.x) + 0.5;
        context.moveTo(x, 0);
        context.lineTo(x, Math.min(viewHeight, layout.rows * scale - pan.y));
      }
      const firstRow = Math.floor(pan.y / scale);
      const lastRow = Math.min(layout.rows, Math.ceil((pan.y + viewHeight) / scale));
      for (let row = firstRow; row <= lastRow; row++) {
        const y = Math.round(row * scale - pan.y) + 0.5;
        context.moveTo(0, y);
        context.lineTo(Math.min(width, layout.columns * scale - pan.x), y);
      }
      context.stroke();
      // The last row may be partly empty: paint the cells past the end white again.
      const tail = layout.rows * layout.columns - count;
      if (tail > 0) {
        context.fillStyle = '#ffffff';
        context.fillRect((layout.columns - tail) * scale - pan.x, (layout.rows - 1) * scale - pan.y, tail * scale + 1, scale + 1);
      }
    }
    // Lone blocks among empty ones (code 0: sparse, or "same" in a compare) would be a pixel
    // or two wide on a large, mostly sparse disk: mark each with a cell of at least 5 px.
    let markers = 0;
    if (scale < 5) {
      const size = 5;
      const palette = new Map(legend.map((entry) => [entry.code, entry.color]));
      context.lineWidth = 1;
      for (let idx = 0; idx < count && markers < MAX_MARKERS; idx++) {
        const code = states[idx];
        if (code === 0 || (idx > 0 && states[idx - 1] !== 0) || (idx + 1 < count && states[idx + 1] !== 0)) continue;
        const x = (idx % layout.columns) * scale - pan.x + scale / 2 - size / 2;
        const y = Math.floor(idx / layout.columns) * scale - pan.y + scale / 2 - size / 2;
        if (x < -size || y < -size || x > width || y > viewHeight) continue;
        context.fillStyle = palette.get(code) ?? '#111827';
        context.fillRect(x, y, size, size);
        context.strokeStyle = '#111827';
        context.strokeRect(x - 0.5, y - 0.5, size + 1, size + 1);
        markers++;
      }
    }
    canvas.dataset.markers = String(markers);
    if (cursor !== null) {
      const column = cursor % layout.columns;
      const row = Math.floor(cursor / layout.columns);
      const size = Math.max(scale, 5);
      const offset = (size - scale) / 2;
      context.strokeStyle = '#111827';
      context.lineWidth = 2;
      context.strokeRect(column * scale - pan.x - offset, row * scale - pan.y - offset, size, size);
    }
    const ms = image.ms + (performance.now() - started);
    canvas.dataset.renderMs = ms.toFixed(1);
    setDrawMs(ms);
  }, [image, pan, scale, width, viewHeight, layout, cursor, count, states, legend]);

  const blockAt = (clientX: number, clientY: number): { idx: number; x: number; y: number } | null => {
    const rect = canvasRef.current!.getBoundingClientRect();
    const x = clientX - rect.left;
    const y = clientY - rect.top;
    const column = Math.floor((x + pan.x) / scale);
    const row = Math.floor((y + pan.y) / scale);
    const idx = row * layout.columns + column;
    if (column < 0 || column >= layout.columns || row < 0 || idx >= count) return null;
    return { idx, x, y };
  };

  const zoomTo = (next: number, anchorX: number, anchorY: number): void => {
    const nextZoom = Math.max(1, Math.min(MAX_ZOOM, next));
    const nextScale = layout.cell * nextZoom;
    const x = ((pan.x + anchorX) * nextScale) / scale - anchorX;
    const y = ((pan.y + anchorY) * nextScale) / scale - anchorY;
    setZoom(nextZoom);
    setPan(clampPan(x, y, nextScale));
  };

  // The wheel zooms the map and must not scroll the page as well. React registers wheel
  // listeners as passive (preventDefault is ignored there), so this one is added by hand; the
  // ref lets the listener, registered once, call the current zoomTo.
  const zoomRef = useRef({ zoomTo, zoom });
  zoomRef.current = { zoomTo, zoom };
  useEffect(() => {
    const canvas = canvasRef.current;
    if (!canvas) return;
    const onWheel = (event: WheelEvent): void => {
      event.preventDefault();
      const rect = canvas.getBoundingClientRect();
      const { zoomTo: zoomNow, zoom: current } = zoomRef.current;
      zoomNow(current * (event.deltaY < 0 ? 1.25 : 0.8), event.clientX - rect.left, event.clientY - rect.top);
    };
    canvas.addEventListener('wheel', onWheel, { passive: false });
    return () => canvas.removeEventListener('wheel', onWheel);
  }, []);

  const showCursor = (idx: number): void => {
    setCursor(idx);
    onInspect?.(idx);
    const column = idx % layout.columns;
    const row = Math.floor(idx / layout.columns);
    let { x, y } = pan;
    if (column * scale < x) x = column * scale;
    if ((column + 1) * scale > x + width) x = (column + 1) * scale - width;
    if (row * scale < y) y = row * scale;
    if ((row + 1) * scale > y + viewHeight) y = (row + 1) * scale - viewHeight;
    setPan(clampPan(x, y, scale));
  };

  const onKeyDown = (event: KeyboardEvent<HTMLCanvasElement>): void => {
    const current = cursor ?? -1;
    const moves: Record<string, number> = { ArrowRight: 1, ArrowLeft: -1, ArrowDown: layout.columns, ArrowUp: -layout.columns, PageDown: layout.columns * 10, PageUp: -layout.columns * 10 };
    if (event.key in moves) {
      const next = current < 0 ? 0 : Math.max(0, Math.min(count - 1, current + moves[event.key]));
      showCursor(next);
    } else if (event.key === 'Home') showCursor(0);
    else if (event.key === 'End') showCursor(count - 1);
    else if (event.key === '+' || event.key === '=') zoomTo(zoom * 2, width / 2, viewHeight / 2);
    else if (event.key === '-') zoomTo(zoom / 2, width / 2, viewHeight / 2);
    else if (event.key === '0') {
      setZoom(1);
      setPan({ x: 0, y: 0 });
    } else if (event.key === 'Escape') {
      setCursor(null);
      onInspect?.(null);
    } else return;
    event.preventDefault();
  };

  const counts = useMemo(() => {
    const result = new Map<number, number>();
    for (let idx = 0; idx < count; idx++) result.set(states[idx], (result.get(states[idx]) ?? 0) + 1);
    return result;
  }, [states, count]);

  const shown = pointer?.idx ?? cursor;
  // The whole map does not fit its view even at zoom 1: the overview shows the whole disk.
  // (Decided at zoom 1, so zooming never moves the map under the pointer.)
  const overflows = layout.rows * layout.cell > viewHeight;

  return (
    <div className="blockmap">
      <div className="blockmap-toolbar">
        <span className="muted">
          {count.toLocaleString()} blocks · zoom {zoom >= 10 ? zoom.toFixed(0) : zoom.toFixed(1)}× · {drawMs === null ? '' : `drawn in ${drawMs.toFixed(0)} ms`}
        </span>
        <span className="spacer" />
        <button type="button" className="small" onClick={() => zoomTo(zoom / 2, width / 2, viewHeight / 2)} disabled={zoom <= 1} aria-label="Zoom out">−</button>
        <button type="button" className="small" onClick={() => zoomTo(zoom * 2, width / 2, viewHeight / 2)} disabled={zoom >= MAX_ZOOM} aria-label="Zoom in">+</button>
        <button type="button" className="small" onClick={() => { setZoom(1); setPan({ x: 0, y: 0 }); }} disabled={zoom === 1}>Fit</button>
      </div>
      {overflows && (
        <Overview
          states={states}
          legend={legend}
          columns={width}
          visible={{ first: Math.floor(pan.y / scale) * layout.columns, last: Math.min(count - 1, Math.ceil((pan.y + viewHeight) / scale) * layout.columns - 1) }}
          onPick={showCursor}
        />
      )}
      <div className="blockmap-stage">
      <div className="blockmap-view" ref={wrapRef}>
        <canvas
          ref={canvasRef}
          style={{ width: `${width}px`, height: `${viewHeight}px` }}
          tabIndex={0}
          role="img"
          aria-label={`${label}: ${legend.map((entry) => `${counts.get(entry.code) ?? 0} ${entry.label}`).join(', ')}. Arrow keys move the block cursor, plus and minus zoom.`}
          data-blocks={count}
          onKeyDown={onKeyDown}
          onMouseMove={(event) => {
            if (drag.current) {
              setPan(clampPan(pan.x - (event.clientX - drag.current.x), pan.y - (event.clientY - drag.current.y), scale));
              drag.current = { x: event.clientX, y: event.clientY };
              return;
            }
            const hit = blockAt(event.clientX, event.clientY);
            setPointer(hit);
            if (hit?.idx !== pointer?.idx) onInspect?.(hit?.idx ?? cursor);
          }}
          onMouseLeave={() => {
            setPointer(null);
            drag.current = null;
          }}
          onMouseDown={(event) => {
            drag.current = { x: event.clientX, y: event.clientY };
          }}
          onMouseUp={(event) => {
            const moved = drag.current && (Math.abs(event.clientX - drag.current.x) > 2 || Math.abs(event.clientY - drag.current.y) > 2);
            drag.current = null;
            if (!moved) {
              const hit = blockAt(event.clientX, event.clientY);
              if (hit) showCursor(hit.idx);
            }
          }}
        />
      </div>
        {pointer && describe && (
          // Outside the clipped view, so a short map does not cut it off.
          <div
            className="blockmap-tip"
            style={pointer.y > viewHeight / 2
              ? { left: `${Math.max(0, Math.min(pointer.x + 14, width - 260))}px`, top: `${pointer.y - 10}px`, transform: 'translateY(-100%)' }
              : { left: `${Math.max(0, Math.min(pointer.x + 14, width - 260))}px`, top: `${pointer.y + 14}px` }}
          >
            {describe(pointer.idx)}
          </div>
        )}
      </div>
      <ul className="legend">
        {legend.map((entry) => (
          <li key={entry.code}>
            <span className="swatch" style={{ background: entry.color }} />
            {entry.label} <span className="muted">{(counts.get(entry.code) ?? 0).toLocaleString()}</span>
          </li>
        ))}
      </ul>
      {describe && (
        <div className="blockmap-info" aria-live="polite">
          {shown === null || shown === undefined ? <span className="muted">Point at a block, or focus the map and use the arrow keys, to see its details.</span> : describe(shown)}
        </div>
      )}
    </div>
  );
}

const OVERVIEW_HEIGHT = 36;
const MARKER = 5;

/**
 * The whole disk in one strip when the map does not fit its view (a 256 GiB disk at 256 KiB
 * blocks is a million blocks): each pixel holds several blocks and takes the highest code
 * among them, so data is never averaged away, and a data pixel among empty ones gets a
 * 5-pixel marker. The visible part of the map is outlined; a click shows that place.
 */
function Overview({ states, legend, columns, visible, onPick }: {
  states: ArrayLike<number>;
  legend: LegendEntry[];
  columns: number;
  /** first and last block index the map's view shows */
  visible: { first: number; last: number };
  onPick(idx: number): void;
}) {
  const ref = useRef<HTMLCanvasElement>(null);
  const count = states.length;
  const width = columns;
  const buckets = width * OVERVIEW_HEIGHT;
  const per = Math.max(1, Math.ceil(count / buckets));
  const cells = useMemo(() => {
    const out = new Uint8Array(Math.ceil(count / per));
    for (let idx = 0; idx < count; idx++) {
      const code = states[idx];
      const cell = Math.floor(idx / per);
      if (code > out[cell]) out[cell] = code;
    }
    return out;
  }, [states, count, per]);
  const rowsUsed = Math.ceil(cells.length / width);
  const height = Math.max(MARKER + 2, rowsUsed);
  useEffect(() => {
    const canvas = ref.current;
    if (!canvas) return;
    const ratio = window.devicePixelRatio || 1;
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(height * ratio);
    const context = canvas.getContext('2d');
    if (!context) return;
    context.setTransform(ratio, 0, 0, ratio, 0, 0);
    const palette = new Map(legend.map((entry) => [entry.code, entry.color]));
    context.fillStyle = palette.get(0) ?? '#e5e7eb';
    context.fillRect(0, 0, width, rowsUsed);
    let markers = 0;
    for (let cell = 0; cell < cells.length; cell++) {
      const code = cells[cell];
      if (code === 0) continue;
      const x = cell % width;
      const y = Math.floor(cell / width);
      context.fillStyle = palette.get(code) ?? '#111827';
      const lone = (cell === 0 || cells[cell - 1] === 0) && (cell + 1 >= cells.length || cells[cell + 1] === 0);
      if (lone && markers < MAX_MARKERS) {
        const left = Math.max(0, Math.min(width - MARKER, x - 2));
        const top = Math.max(0, Math.min(height - MARKER, y - 2));
        context.fillRect(left, top, MARKER, MARKER);
        context.strokeStyle = '#111827';
        context.lineWidth = 1;
        context.strokeRect(left - 0.5, top - 0.5, MARKER + 1, MARKER + 1);
        markers++;
      } else {
        context.fillRect(x, y, 1, 1);
      }
    }
    const firstCell = Math.floor(visible.first / per);
    const lastCell = Math.floor(visible.last / per);
    const top = Math.floor(firstCell / width);
    const bottom = Math.floor(lastCell / width) + 1;
    context.strokeStyle = '#1d4ed8';
    context.lineWidth = 2;
    context.strokeRect(1, top + 1, width - 2, Math.max(2, bottom - top) - 2);
    canvas.dataset.markers = String(markers);
  }, [cells, legend, width, height, rowsUsed, per, visible.first, visible.last]);
  return (
    <div className="blockmap-overview-wrap">
      <div className="small-text muted">Whole disk: one pixel per {per.toLocaleString()} blocks; a block with data is never hidden by empty neighbours. Click to show a place.</div>
      <canvas
        ref={ref}
        className="blockmap-overview"
        style={{ width: `${width}px`, height: `${height}px` }}
        role="img"
        aria-label={`Overview of all ${count.toLocaleString()} blocks`}
        onClick={(event) => {
          const rect = event.currentTarget.getBoundingClientRect();
          const cell = Math.floor(event.clientY - rect.top) * width + Math.floor(event.clientX - rect.left);
          onPick(Math.max(0, Math.min(count - 1, cell * per)));
        }}
      />
    </div>
  );
}
