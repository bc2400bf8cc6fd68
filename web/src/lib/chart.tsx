// A uPlot time-series chart. With onBrush, dragging across it selects a time range (zoom).
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { useEffect, useRef } from 'preact/hooks';

export interface ChartProps {
  x: number[]; // seconds since the epoch
  series: { label: string; values: number[]; color: string }[];
  height?: number;
  bars?: boolean;
  onBrush?: (fromSec: number, toSec: number) => void;
  ariaLabel: string;
}

export function TimeChart(p: ChartProps) {
  const el = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const brush = useRef(p.onBrush);
  brush.current = p.onBrush;
  useEffect(() => {
    if (!el.current) return;
    const width = Math.max(280, el.current.clientWidth || 600);
    const opts: uPlot.Options = {
      width,
      height: p.height ?? 180,
      cursor: { drag: { x: !!p.onBrush, y: false, setScale: false } },
      legend: { show: true },
      scales: { x: { time: true } },
      series: [
        {},
        ...p.series.map((s) => ({
          label: s.label,
          stroke: s.color,
          fill: s.color + '55',
          width: 1.5,
          paths: p.bars ? uPlot.paths.bars!({ size: [0.9, 40] }) : undefined,
        })),
      ],
      hooks: {
        setSelect: [
          (u: uPlot) => {
            if (u.select.width < 3 || !brush.current) return;
            const a = u.posToVal(u.select.left, 'x');
            const b = u.posToVal(u.select.left + u.select.width, 'x');
            u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
            brush.current(a, b);
          },
        ],
      },
    };
    const data = [p.x, ...p.series.map((s) => s.values)] as uPlot.AlignedData;
    plot.current = new uPlot(opts, data, el.current);
    const ro = new ResizeObserver(() => {
      if (el.current && plot.current) plot.current.setSize({ width: Math.max(280, el.current.clientWidth), height: p.height ?? 180 });
    });
    ro.observe(el.current);
    return () => {
      ro.disconnect();
      plot.current?.destroy();
      plot.current = null;
    };
  }, [JSON.stringify(p.x), JSON.stringify(p.series), p.bars]);
  return <div class="chart" ref={el} role="img" aria-label={p.ariaLabel} />;
}
