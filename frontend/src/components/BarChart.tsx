import { useI18n } from "../i18n";

export interface Series {
  label: string;
  className: string;
  values: number[];
}

/** Stacked daily bars, drawn as SVG so it needs no chart library. */
export function BarChart({ days, series, title }: { days: string[]; series: Series[]; title: string }) {
  const { day, number } = useI18n();
  const totals = days.map((_, i) => series.reduce((sum, s) => sum + s.values[i], 0));
  const max = Math.max(1, ...totals);
  const width = Math.max(days.length * 24, 120);
  return (
    <figure className="chart">
      <figcaption>
        {title}
        <span className="legend">
          {series.map((s) => (
            <span key={s.label} className={`key ${s.className}`}>
              {s.label}
            </span>
          ))}
        </span>
      </figcaption>
      <svg viewBox={`0 0 ${width} 120`} role="img" aria-label={title}>
        {days.map((date, i) => {
          let y = 100;
          return (
            <g key={date}>
              <title>{`${day(date)}: ${series.map((s) => `${s.label} ${number(s.values[i])}`).join(", ")}`}</title>
              {series.map((s) => {
                const h = (s.values[i] / max) * 90;
                y -= h;
                return <rect key={s.label} className={s.className} x={i * 24 + 4} y={y} width={16} height={h} />;
              })}
              {(days.length <= 14 || i % Math.ceil(days.length / 10) === 0) && (
                <text x={i * 24 + 12} y={114} textAnchor="middle">
                  {day(date)}
                </text>
              )}
            </g>
          );
        })}
      </svg>
    </figure>
  );
}
