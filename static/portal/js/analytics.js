// Team settings → Analytics: draws each `canvas[data-chart]` from the page's JSON data block
// (`#analytics-charts`, the same numbers as the tables) with Chart.js, served from our own
// origin as a classic script before this module runs (both are deferred, in document order).
// Colours come from CSS variables, so the charts follow dark mode.

const UNITS = ["bytes", "KB", "MB", "GB", "TB", "PB"];

// The same scale as Django's filesizeformat, which the tables use.
function humanBytes(value) {
  let size = Number(value) || 0;
  let unit = 0;
  while (Math.abs(size) >= 1024 && unit < UNITS.length - 1) {
    size /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${size} bytes` : `${size.toFixed(1)} ${UNITS[unit]}`;
}

function formatter(unit) {
  if (unit === "bytes") return humanBytes;
  if (unit === "money") return (value) => Number(value).toFixed(2);
  return (value) => (Number.isInteger(Number(value)) ? String(value) : "");
}

function palette() {
  const style = getComputedStyle(document.documentElement);
  const read = (name) => style.getPropertyValue(name).trim();
  return {
    fg: read("--fg"),
    muted: read("--muted"),
    line: read("--line"),
    card: read("--card"),
    series: [1, 2, 3, 4, 5, 6, 7, 8].map((n) => read(`--chart-${n}`)),
  };
}

function config(spec, colours) {
  const format = formatter(spec.unit);
  const round = spec.kind === "doughnut";
  const datasets = spec.series.map((series, index) => {
    const colour = colours.series[index % colours.series.length];
    return {
      label: series.label,
      data: series.data,
      backgroundColor: round ? spec.labels.map((_, i) => colours.series[i % colours.series.length]) : colour,
      borderColor: round ? colours.card : colour,
      borderWidth: spec.kind === "line" ? 2 : 1,
      pointRadius: spec.kind === "line" && spec.labels.length > 60 ? 0 : 2,
      maxBarThickness: 56,
      tension: 0.2,
    };
  });
  const tooltip = { callbacks: { label: (item) => `${item.dataset.label}: ${format(item.raw)}` } };
  const options = {
    responsive: true,
    maintainAspectRatio: false,
    animation: false,
    color: colours.fg,
    plugins: {
      legend: { display: round || spec.series.length > 1, labels: { color: colours.fg } },
      tooltip,
    },
  };
  if (!round) {
    options.scales = {
      x: { ticks: { color: colours.muted, maxRotation: 0, autoSkip: true, maxTicksLimit: 6 }, grid: { color: colours.line } },
      y: { beginAtZero: true, ticks: { color: colours.muted, callback: format }, grid: { color: colours.line } },
    };
  }
  return { type: spec.kind, data: { labels: spec.labels, datasets }, options };
}

function draw() {
  const block = document.getElementById("analytics-charts");
  if (!block || !window.Chart) return;
  const specs = JSON.parse(block.textContent);
  const charts = [];
  const render = () => {
    const colours = palette();
    charts.splice(0).forEach((chart) => chart.destroy());
    document.querySelectorAll("canvas[data-chart]").forEach((canvas) => {
      const spec = specs[canvas.dataset.chart];
      const drawn = Boolean(spec && spec.labels.length);
      canvas.parentElement.hidden = !drawn; // an empty chart says nothing the table does not
      if (drawn) charts.push(new window.Chart(canvas, config(spec, colours)));
    });
  };
  render();
  window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", render);
}

if (window.Chart) {
  draw();
} else {
  window.addEventListener("load", draw, { once: true });
}
